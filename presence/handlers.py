"""Presence's part of the socket: heartbeats while a connection lives."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.conf import settings

from chat.selectors import ais_member
from echostream.core import frames, groups
from presence import receipts, store

_heartbeats: dict[str, asyncio.Task[None]] = {}


async def _beat(connection: frames.Connection) -> None:
    while True:
        await store.mark_alive(user_id=connection.user_id, connection_id=connection.channel_name)
        await asyncio.sleep(settings.PRESENCE_TTL_SECONDS / 3)


@frames.on_connect
async def start_heartbeat(connection: frames.Connection) -> None:
    await store.mark_alive(user_id=connection.user_id, connection_id=connection.channel_name)
    _heartbeats[connection.channel_name] = asyncio.create_task(_beat(connection))


@frames.on_disconnect
async def stop_heartbeat(connection: frames.Connection) -> None:
    task = _heartbeats.pop(connection.channel_name, None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await store.mark_gone(user_id=connection.user_id, connection_id=connection.channel_name)


@frames.register("receipt")
async def handle_receipt(connection: frames.Connection, frame: dict[str, Any]) -> None:
    room_id, seq, kind = frame.get("room"), frame.get("seq"), frame.get("kind")
    if not isinstance(room_id, str) or not frames.is_seq(seq):
        raise frames.FrameError("invalid_frame", "receipt needs `room` (string) and `seq` (integer >= 0).")
    if kind not in ("delivered", "read"):
        raise frames.FrameError("invalid_frame", "receipt `kind` is `delivered` or `read`.")
    if not await ais_member(user_id=connection.user_id, room_id=room_id):
        raise frames.FrameError("forbidden", "You are not a member of that room.")
    await receipts.raise_watermark(user_id=connection.user_id, room_id=room_id, kind=kind, seq=seq)
    await groups.send_to_room(
        room_id, {"type": "receipt", "room": room_id, "user": connection.username, "seq": seq, "kind": kind}
    )
