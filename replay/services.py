"""Resume: what a reconnecting client missed in a room, from MongoDB, and from Kafka
where MongoDB lacks what the bridges have already processed (a lost or rebuilding
projection)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from chat import projector
from chat.selectors import messages_by_id, messages_changed_after
from echostream.core import delivery, events, kafka, wire

logger = logging.getLogger(__name__)
T = TypeVar("T")

STORE_CATCH_UP_SECONDS = 2.0


@dataclass(kw_only=True)
class RoomReplay:
    # message.new / message.updated frames in event order, each with its event `seq` and,
    # as `prev_seq`, the seq of the frame before it (the first: the client's cursor).
    frames: list[wire.MessageNew | wire.MessageUpdated] = field(default_factory=list)
    # The seq the client is at once it has these frames.
    seq: int
    # The room's topic holds fewer events than the client saw: it was re-created, and
    # the client must reload the room rather than trust its cursor.
    reload: bool = False


def _frame(document: projector.MessageDoc, *, after: int) -> wire.MessageNew | wire.MessageUpdated:
    if document["seq"] > after:
        return projector.room_event_frame(new=True, seq=document["seq"], message=document)
    return projector.room_event_frame(new=False, seq=document["version_seq"], message=document)


async def replay_room(*, room_id: str, after: int) -> RoomReplay:
    """Every message created or changed in the room after seq `after`, one frame each in its
    current state, in event order. A message that is new since `after` comes as `message.new`
    (already edited or deleted if it was), an older one that changed as `message.updated`.
    The frames are chained from `after` (see echostream.core.delivery)."""
    _, next_offset = await _ask_kafka(kafka.room_offsets, room_id, default=(None, None))
    if next_offset is not None and after >= next_offset:
        return RoomReplay(seq=next_offset - 1, reload=True)
    await _until_stored_as_shown(room_id)
    documents = await messages_changed_after(room_id=room_id, seq=after)
    replay = RoomReplay(seq=max([after, *(document["version_seq"] for document in documents)]))
    keyed = [
        (document["seq"] if document["seq"] > after else document["version_seq"], document) for document in documents
    ]
    replay.frames = [_frame(document, after=after) for _, document in sorted(keyed, key=lambda pair: pair[0])]

    # Events the bridges have processed but MongoDB does not reflect: read them from the
    # log. Events after the bridges' position need no replay: they will arrive live.
    processed_until = await _ask_kafka(kafka.bridge_position, room_id, default=None)
    if processed_until is not None and processed_until - 1 > replay.seq:
        try:
            replay.frames += await _from_log(room_id=room_id, start=replay.seq + 1, end=processed_until)
            replay.seq = processed_until - 1
        except kafka.KafkaException as exc:
            # The client misses those until a later resume finds them in MongoDB.
            logger.warning("resume of room %s goes without the log from seq %s: %s", room_id, replay.seq + 1, exc)
    replay.frames = delivery.chained(replay.frames, after=after)
    return replay


async def _until_stored_as_shown(room_id: str) -> None:
    """Waits a moment for MongoDB to hold what the bridges showed of the room: they store apart
    from showing (docs/architecture.md, "The bridge"), so MongoDB may trail by a moment. Then the
    snapshot compacts it (a message deleted since the cursor never shows its body); past that
    moment (MongoDB down), the log part covers the difference, one frame per event."""
    deadline = time.monotonic() + STORE_CATCH_UP_SECONDS
    shown = await _ask_kafka(kafka.bridge_position, room_id, default=None)
    while shown is not None and time.monotonic() < deadline:
        stored = await _ask_kafka(kafka.bridge_store_position, room_id, default=None)
        if stored is not None and stored >= shown:
            return
        await asyncio.sleep(0.05)


async def _ask_kafka(question: Callable[[str], T], room_id: str, *, default: T) -> T:
    """Kafka's answer, or `default` if it has none now (a topic just re-created, a broker
    restarting): the resume then relies on MongoDB and on live delivery alone."""
    try:
        return await asyncio.to_thread(question, room_id)
    except kafka.KafkaException as exc:
        logger.warning("resume of room %s goes without Kafka's %s: %s", room_id, question.__name__, exc)
        return default


async def _from_log(*, room_id: str, start: int, end: int) -> list[wire.MessageNew | wire.MessageUpdated]:
    """Frames for the events in [start, end) of the room's log.

    MongoDB may have caught up since it was asked (then a message already shows this
    event, or later ones: its current state is sent) or may have lost it (then the
    event is folded onto what there is)."""
    logged = await asyncio.to_thread(lambda: list(room_events(room_id, start=start, end=end)))
    room_events_read = [entry.event for entry in logged if entry.event is not None]
    state = await messages_by_id([projector.message_id_of(event) for event in room_events_read])
    frames: list[wire.MessageNew | wire.MessageUpdated] = []
    for event in room_events_read:
        message_id = projector.message_id_of(event)
        current = state.get(message_id)
        if isinstance(event, events.MessageCreated):
            if current is not None and current["seq"] != event.seq:
                continue  # a client's retry, published twice; the first one stands
            state[message_id] = current or projector.apply(None, event)
        elif current is None:
            continue
        else:
            # Unchanged when MongoDB already shows this event or a later one.
            state[message_id] = projector.apply(current, event)
        frames.append(
            projector.room_event_frame(
                new=isinstance(event, events.MessageCreated), seq=event.seq, message=state[message_id]
            )
        )
    return frames


# --- Reading and rebuilding from the log (operator commands) ----------------------------


@dataclass(frozen=True, kw_only=True)
class LoggedEvent:
    seq: int
    timestamp_ms: int
    event: events.RoomEvent | None  # None: a malformed record, skipped and logged


def room_events(room_id: str, *, start: int, end: int) -> Iterator[LoggedEvent]:
    """The room's log between offsets [start, end), decoded; reads Kafka, so call it from a thread."""
    for record in kafka.read_room(room_id, start=start, end=end):
        _, timestamp_ms = record.timestamp()
        event: events.RoomEvent | None
        try:
            event = projector.record_to_event(room_id=room_id, offset=record.offset(), value=record.value())
        except projector.NotARoomEvent as exc:
            logger.warning("skipped %s", exc)
            event = None
        yield LoggedEvent(seq=record.offset(), timestamp_ms=timestamp_ms, event=event)


def room_bounds(room_id: str) -> tuple[int, int]:
    """(first seq still in the log, the seq the next event will get)."""
    return kafka.room_offsets(room_id)


def first_seq_at(room_id: str, when: datetime) -> int | None:
    return kafka.room_offset_at(room_id, int(when.timestamp() * 1000))


def rooms_in_log() -> list[str]:
    return kafka.room_topics()


def fold_room(logged: Iterable[LoggedEvent]) -> list[projector.MessageDoc]:
    return list(projector.fold(entry.event for entry in logged if entry.event is not None).values())
