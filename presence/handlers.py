"""Presence's part of the socket: heartbeats while a connection lives, typing, and receipts."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from typing import Any

from django.conf import settings

from chat.services import SendRefused, check_member, check_rate
from echostream.core import frames, kafka, rounds
from echostream.core.redis import RedisError
from presence import services

logger = logging.getLogger(__name__)

# The rooms each socket said it typed in, so that its close can clear them.
_typing_rooms: dict[str, set[str]] = {}
# One sweeper per event loop (a process has one; tests make many).
_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


async def _beat(connection: frames.Connection) -> None:
    # A Redis hiccup must not end the heartbeats: the next round tries again, and the TTL
    # covers the missed one.
    try:
        await services.do_heartbeat(
            user_id=connection.user_id, username=connection.username, connection_id=connection.channel_name
        )
    except (RedisError, OSError) as exc:
        logger.warning("presence heartbeat of %s failed; next beat retries: %s", connection.channel_name, exc)


# Every socket of the process beats from one task, a few at a time (not a task per socket).
_heartbeats: rounds.Rounds[frames.Connection] = rounds.Rounds(
    "presence heartbeat", lambda: settings.PRESENCE_TTL_SECONDS / 3, _beat
)


async def _sweep_forever() -> None:
    # Sockets of a process that died never close: their users go offline when this finds
    # their heartbeats expired. Every web process sweeps; each user is announced once.
    while True:
        await asyncio.sleep(settings.PRESENCE_TTL_SECONDS / 3)
        try:
            await services.do_sweep_expired()
        except Exception:
            logger.exception("presence sweep failed; the next one retries")


def _ensure_sweeper() -> None:
    loop = asyncio.get_running_loop()
    sweeper = _sweepers.get(loop)
    if sweeper is None or sweeper.done():
        # A context of its own: the sweep is the process's, not the user's whose socket started it
        # (whose user_id the socket's task has bound for its log lines).
        _sweepers[loop] = loop.create_task(_sweep_forever(), context=contextvars.Context())


@frames.on_connect
async def start_heartbeat(connection: frames.Connection) -> None:
    _ensure_sweeper()
    try:
        await services.do_connection_opened(
            user_id=connection.user_id, username=connection.username, connection_id=connection.channel_name
        )
    except (RedisError, OSError) as exc:
        logger.warning("presence of %s not marked now; its heartbeat retries: %s", connection.channel_name, exc)
    _heartbeats.add(connection)


@frames.on_disconnect
async def stop_heartbeat(connection: frames.Connection) -> None:
    # A beat under way ends first: none may mark the connection alive after its close.
    await _heartbeats.remove(connection)
    await services.do_stop_typing_of_connection(
        user_id=connection.user_id,
        username=connection.username,
        room_ids=sorted(_typing_rooms.pop(connection.channel_name, set())),
        connection_id=connection.channel_name,
    )
    await services.do_connection_closed(
        user_id=connection.user_id, username=connection.username, connection_id=connection.channel_name
    )


def running_heartbeats() -> int:
    """How many sockets of this process have a heartbeat running (each must stop with its socket)."""
    return len(_heartbeats)


@frames.register("typing")
async def handle_typing(connection: frames.Connection, frame: dict[str, Any]) -> None:
    room_id, state = frame.get("room"), frame.get("state")
    if not isinstance(room_id, str) or not isinstance(state, bool):
        raise frames.FrameError("invalid_frame", "typing needs `room` (string) and `state` (true or false).")
    try:
        await check_rate(user_id=connection.user_id, kind="typing")
    except SendRefused:
        return  # typing is ephemeral: over the limit it is dropped without an answer
    try:
        await check_member(user_id=connection.user_id, room_id=room_id, known_member=connection.member_of(room_id))
    except SendRefused as refusal:
        await connection.send_frame(refusal.frame(room=room_id))
        return
    if state:
        _typing_rooms.setdefault(connection.channel_name, set()).add(room_id)
    await services.do_typing(
        user_id=connection.user_id,
        username=connection.username,
        room_id=room_id,
        connection_id=connection.channel_name,
        state=state,
    )


@frames.register("receipt")
async def handle_receipt(connection: frames.Connection, frame: dict[str, Any]) -> None:
    room_id, seq, kind = frame.get("room"), frame.get("seq"), frame.get("kind")
    if not isinstance(room_id, str) or not frames.is_seq(seq):
        raise frames.FrameError("invalid_frame", "receipt needs `room` (string) and `seq` (integer >= 0).")
    if kind not in ("delivered", "read"):
        raise frames.FrameError("invalid_frame", "receipt `kind` is `delivered` or `read`.")
    try:
        await check_rate(user_id=connection.user_id, kind="receipt")
        await check_member(user_id=connection.user_id, room_id=room_id, known_member=connection.member_of(room_id))
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
