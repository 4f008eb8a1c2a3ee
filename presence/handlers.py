"""Presence's part of the socket: heartbeats while a connection lives, and receipts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from django.conf import settings

from chat.selectors import ais_member
from chat.services import SendRefused, check_rate
from echostream.core import frames, kafka
from echostream.core.redis import RedisError
from presence import services, store

logger = logging.getLogger(__name__)

_heartbeats: dict[str, asyncio.Task[None]] = {}


async def _mark_alive(connection: frames.Connection) -> None:
    # A Redis hiccup must not end the heartbeat: the next beat tries again, and the
    # TTL covers the missed one.
    try:
        await store.mark_alive(user_id=connection.user_id, connection_id=connection.channel_name)
    except (RedisError, OSError) as exc:
        logger.warning("presence heartbeat of %s failed; next beat retries: %s", connection.channel_name, exc)


async def _beat(connection: frames.Connection) -> None:
    while True:
        await asyncio.sleep(settings.PRESENCE_TTL_SECONDS / 3)
        await _mark_alive(connection)


@frames.on_connect
async def start_heartbeat(connection: frames.Connection) -> None:
    await _mark_alive(connection)
    _heartbeats[connection.channel_name] = asyncio.create_task(_beat(connection))


@frames.on_disconnect
async def stop_heartbeat(connection: frames.Connection) -> None:
    task = _heartbeats.pop(connection.channel_name, None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await store.mark_gone(user_id=connection.user_id, connection_id=connection.channel_name)


def running_heartbeats() -> int:
    """How many sockets of this process have a heartbeat running (each must stop with its socket)."""
    return len(_heartbeats)


@frames.register("receipt")
async def handle_receipt(connection: frames.Connection, frame: dict[str, Any]) -> None:
    room_id, seq, kind = frame.get("room"), frame.get("seq"), frame.get("kind")
    if not isinstance(room_id, str) or not frames.is_seq(seq):
        raise frames.FrameError("invalid_frame", "receipt needs `room` (string) and `seq` (integer >= 0).")
    if kind not in ("delivered", "read"):
        raise frames.FrameError("invalid_frame", "receipt `kind` is `delivered` or `read`.")
    try:
        await check_rate(user_id=connection.user_id, kind="receipt")
        if not await ais_member(user_id=connection.user_id, room_id=room_id):
            raise SendRefused("forbidden", "You are not a member of that room.")
    except SendRefused as refusal:
        await connection.send_frame(refusal.frame(room=room_id))
        return
    try:
        await services.check_receipt_seq(room_id=room_id, seq=seq)
    except services.SeqBeyondEnd as exc:
        raise frames.FrameError("invalid_frame", str(exc)) from exc
    except kafka.KafkaException as exc:
        raise frames.FrameError("unavailable", "The room's end cannot be checked now; send it again.") from exc
    await services.do_record_receipt(
        user_id=connection.user_id, username=connection.username, room_id=room_id, seq=seq, kind=kind
    )
