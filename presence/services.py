"""Presence's actions: receipts (watermarks that every member of the room sees)."""

from __future__ import annotations

import asyncio

from chat.selectors import last_seqs
from echostream.core import groups, kafka, wire
from presence import receipts


class SeqBeyondEnd(Exception):
    """A receipt for a seq the room has not reached: it would stick the watermark there."""


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
    await receipts.raise_watermark(user_id=user_id, room_id=room_id, kind=kind, seq=seq)
    await groups.send_to_room(room_id, wire.Receipt(room=room_id, user=username, seq=seq, kind=kind))
