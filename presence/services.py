"""Presence's actions: announcing who is online, typing, and receipts (watermarks that every
member of the room sees). None of them touches Kafka or MongoDB's history: all of it is
ephemeral state in Redis, or the receipts collection."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from django.conf import settings

from chat.selectors import aco_member_ids, ausernames_of, last_seqs
from echostream.core import groups, kafka, wire
from presence import receipts, store

logger = logging.getLogger(__name__)


class SeqBeyondEnd(Exception):
    """A receipt for a seq the room has not reached: it would stick the watermark there."""


# --- Presence --------------------------------------------------------------------


async def do_announce_presence(
    *, user_id: str, status: Literal["online", "offline"], last_seen: str | None, username: str | None = None
) -> None:
    """Tells everyone who shares a room with the user (and no one else) their new status."""
    if username is None:
        username = (await ausernames_of(user_ids=[user_id])).get(user_id)
        if username is None:
            return  # the account is gone; no one can be told about it
    frame = wire.Presence(user=username, status=status, last_seen=None if status == "online" else last_seen)
    for other in await aco_member_ids(user_id=user_id):
        await groups.send_to_user(other, frame)


async def do_admit_connection(*, user_id: str, connection_id: str) -> bool:
    """Counts one more socket of the user, unless they have settings.WEBSOCKET_MAX_SOCKETS_PER_USER
    open already (over every web process); whether it was. An admitted one counts from now on, as
    its heartbeats will keep it, until it closes."""
    return await store.admit(user_id=user_id, connection_id=connection_id, most=settings.WEBSOCKET_MAX_SOCKETS_PER_USER)


async def do_connection_opened(*, user_id: str, username: str, connection_id: str) -> None:
    if await store.mark_alive(user_id=user_id, connection_id=connection_id):
        await do_announce_presence(user_id=user_id, username=username, status="online", last_seen=None)


async def do_heartbeat(*, user_id: str, username: str, connection_id: str) -> None:
    # A beat can find the user announced offline (a sweep ran while this process stalled):
    # they are online again, and the others hear it.
    await do_connection_opened(user_id=user_id, username=username, connection_id=connection_id)


async def do_connection_closed(*, user_id: str, username: str, connection_id: str) -> None:
    last_seen = await store.mark_gone(user_id=user_id, connection_id=connection_id)
    if last_seen is not None:
        await do_announce_presence(user_id=user_id, username=username, status="offline", last_seen=last_seen)


async def do_sweep_expired() -> int:
    """Announces offline the users whose every connection expired without closing (a killed
    process); how many there were."""
    gone = await store.sweep_expired()
    for user_id, last_seen in gone.items():
        await do_announce_presence(user_id=user_id, status="offline", last_seen=last_seen)
    return len(gone)


# --- Typing ------------------------------------------------------------------------


async def do_typing(*, user_id: str, username: str, room_id: str, connection_id: str, state: bool) -> None:
    """Tells the room's other members (the consumer keeps it from the typist's own sockets)."""
    if state:
        await store.start_typing(room_id=room_id, user_id=user_id, connection_id=connection_id)
    elif not await store.stop_typing(room_id=room_id, user_id=user_id):
        return  # nothing to clear: the others show nothing
    await groups.send_to_room(room_id, wire.Typing(room=room_id, user=username, state=state))


async def do_stop_typing_of_connection(*, user_id: str, username: str, room_ids: list[str], connection_id: str) -> None:
    """A closing socket clears the typing state it set (not one another tab set since)."""
    for room_id in room_ids:
        if await store.stop_typing(room_id=room_id, user_id=user_id, connection_id=connection_id):
            await groups.send_to_room(room_id, wire.Typing(room=room_id, user=username, state=False))


# --- Receipts ----------------------------------------------------------------------


async def check_receipt_seq(*, room_id: str, seq: int) -> None:
    """Raises SeqBeyondEnd unless the room has an event at or after `seq` (KafkaException
    when the log's end is needed and cannot be read)."""
    known = (await last_seqs([room_id])).get(room_id)
    if known is not None and seq <= known:
        return
    # The cache and the history know messages, not every event (an edit's seq is above its
    # message's); the log's end is exact, and only asked for a seq past what they know.
    _, next_seq = await asyncio.to_thread(kafka.room_offsets, room_id)
    if seq >= next_seq:
        raise SeqBeyondEnd(f"seq {seq} is past the room's last event.")


async def do_record_receipt(*, user_id: str, username: str, room_id: str, seq: int, kind: receipts.Kind) -> None:
    """Moves the watermark; the room hears of it only when it moved, so a repeated or late
    receipt costs no frames."""
    if await receipts.raise_watermark(user_id=user_id, room_id=room_id, kind=kind, seq=seq):
        await groups.send_to_room(room_id, wire.Receipt(room=room_id, user=username, seq=seq, kind=kind))
