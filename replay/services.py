"""Resume: what a reconnecting client missed in its rooms, from MongoDB, and from Kafka
where MongoDB lacks what the bridges have already processed (a lost or rebuilding
projection), or from Kafka and the recent cache alone while MongoDB is out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from chat import projector, recent
from chat.selectors import messages_by_id, messages_changed_after
from echostream import logs
from echostream.core import delivery, events, kafka, mongo, wire

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How long one resume waits, for all its rooms together, for the bridges' store half to
# hold what their fan-out half showed; and how often it asks Kafka meanwhile.
STORE_CATCH_UP_SECONDS = 2.0
STORE_POLL_SECONDS = 0.2
# How long a resume gives MongoDB to answer before it does without it.
MONGO_DEADLINE_SECONDS = 1.5


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


class _Mongo:
    """MongoDB as one resume meets it: asked under a short deadline, and not asked again
    once it failed to answer (the rest of the resume does without it)."""

    def __init__(self) -> None:
        self.out = False

    async def ask(self, what: str, question: Callable[..., Awaitable[T]], **arguments: Any) -> T | None:
        """`question`'s answer, or None when MongoDB did not give it (now or earlier in the resume)."""
        if self.out:
            return None
        try:
            with mongo.deadline(MONGO_DEADLINE_SECONDS):
                return await question(**arguments)
        except mongo.PyMongoError as exc:
            # A read is never the record's fault: whatever MongoDB says, the resume goes on without it.
            self.out = True
            kind = "is out" if mongo.is_outage(exc) else "failed"
            logger.warning(
                "resume goes without MongoDB (%s %s: %s); the log and the recent cache stand in", what, kind, exc
            )
            return None


async def replay_room(*, room_id: str, after: int) -> RoomReplay:
    """`replay_rooms` for one room."""
    return (await replay_rooms({room_id: after}))[room_id]


async def replay_rooms(cursors: Mapping[str, int]) -> dict[str, RoomReplay]:
    """For each room, every message created or changed after its cursor, one frame each in its
    current state, in event order. A message that is new since the cursor comes as `message.new`
    (already edited or deleted if it was), an older one that changed as `message.updated`.
    The frames are chained from the cursor (see echostream.core.delivery).

    MongoDB gives the snapshot; the log gives what the bridges showed and MongoDB does not
    hold. While MongoDB is out, the log alone does, with the recent cache for the state of
    messages older than the cursor (see docs/replay.md, "Resume while MongoDB is out")."""
    replays: dict[str, RoomReplay] = {}
    pending: dict[str, int] = {}
    for room_id, after in cursors.items():
        _, next_offset = await _ask_kafka(kafka.room_offsets, room_id, default=(None, None))
        if next_offset is not None and after >= next_offset:
            replays[room_id] = RoomReplay(seq=next_offset - 1, reload=True)
        else:
            pending[room_id] = after
    if not pending:
        return replays

    store = _Mongo()
    await _until_stored_as_shown(list(pending), store)
    snapshots: dict[str, list[projector.MessageDoc]] = {}
    for room_id, after in pending.items():
        documents = await store.ask(f"room {room_id}", messages_changed_after, room_id=room_id, seq=after)
        if documents is not None:
            snapshots[room_id] = documents

    # Events the bridges have shown but the snapshot does not reflect: read them from the
    # log. Events after the bridges' position need no replay: they will arrive live.
    shown = await _positions(kafka.bridge_positions, list(pending))
    for room_id, after in pending.items():
        replay = RoomReplay(seq=after)
        documents = snapshots.get(room_id)
        if documents is not None:
            replay.seq = max([after, *(document["version_seq"] for document in documents)])
            keyed = [
                (document["seq"] if document["seq"] > after else document["version_seq"], document)
                for document in documents
            ]
            replay.frames = [_frame(document, after=after) for _, document in sorted(keyed, key=lambda pair: pair[0])]
        processed_until = shown.get(room_id)
        if processed_until is not None and processed_until - 1 > replay.seq:
            try:
                replay.frames += await _from_log(
                    room_id=room_id, start=replay.seq + 1, end=processed_until, store=store
                )
                replay.seq = processed_until - 1
            except kafka.KafkaException as exc:
                # The client misses those until a later resume finds them in MongoDB.
                logger.warning(
                    "resume of room %s goes without the log from seq %s: %s",
                    room_id, replay.seq + 1, exc,
                    extra={"room": room_id, "seq": replay.seq + 1},
                )  # fmt: skip
        replay.frames = delivery.chained(replay.frames, after=after)
        replays[room_id] = replay
    return replays


async def _until_stored_as_shown(room_ids: list[str], store: _Mongo) -> None:
    """Waits a moment, once for all the rooms, for MongoDB to hold what the bridges showed of
    them: they store apart from showing (docs/architecture.md, "The bridge"), so MongoDB may
    trail by a moment. Then the snapshot compacts it (a message deleted since the cursor never
    shows its body); past that moment, the log part covers the difference. No wait at all when
    MongoDB does not answer: the store half waits for it, so the resume does without it."""
    shown = {
        room_id: position
        for room_id, position in (await _positions(kafka.bridge_positions, room_ids)).items()
        if position is not None
    }
    deadline = time.monotonic() + STORE_CATCH_UP_SECONDS
    asked_mongo = False
    while shown:
        stored = await _positions(kafka.bridge_store_positions, list(shown))
        # A room the store half has committed nothing of yet (one a few seconds old: that half
        # looks for new rooms every few seconds) comes from its log: the wait holds the socket's
        # live frames in every room, for a store that may not look at that room for a while.
        shown = {
            room_id: position
            for room_id, position in shown.items()
            if stored.get(room_id) is not None and stored[room_id] < position
        }
        if not shown or time.monotonic() >= deadline:
            return
        if not asked_mongo:
            asked_mongo = True
            if await store.ask("a ping", _mongo_answers) is None:
                return
        await asyncio.sleep(STORE_POLL_SECONDS)


async def _mongo_answers() -> bool:
    await mongo.ping()
    return True


async def _ask_kafka(question: Callable[[str], T], room_id: str, *, default: T) -> T:
    """Kafka's answer, or `default` if it has none now (a topic just re-created, a broker
    restarting): the resume then relies on MongoDB and on live delivery alone."""
    try:
        return await asyncio.to_thread(question, room_id)
    except kafka.KafkaException as exc:
        logger.warning(
            "resume of room %s goes without Kafka's %s: %s", room_id, question.__name__, exc, extra={"room": room_id}
        )
        return default


async def _positions(
    question: Callable[[list[str]], dict[str, int | None]], room_ids: list[str]
) -> dict[str, int | None]:
    """Kafka's answer for all the rooms at once, or none if it has none now."""
    if not room_ids:
        return {}
    try:
        return await asyncio.to_thread(question, room_ids)
    except kafka.KafkaException as exc:
        logger.warning("resume of rooms %s goes without Kafka's %s: %s", room_ids, question.__name__, exc)
        return {}


async def _from_log(
    *, room_id: str, start: int, end: int, store: _Mongo
) -> list[wire.MessageNew | wire.MessageUpdated]:
    """Frames for the events in [start, end) of the room's log, folded with the projector: one
    frame per message, in its current state, at the seq of its creation if that is in the range
    (`message.new`), else at the seq of the last event in the range that changed it
    (`message.updated`). The frames' seqs stay in the range, so no live frame after it is
    taken for a copy.

    A message's state before the range comes from MongoDB (which may have caught up since the
    snapshot: then the message already shows this event or later ones, and that is sent) or,
    where MongoDB does not hold it or is out, from the recent cache's live entry (what the fan-out
    showed last). A change to a message that neither holds is not sent: the frame would need the
    message's sender, time and seq, which only its creation says (logged; the history shows it
    once MongoDB is back)."""
    logged = await asyncio.to_thread(lambda: list(room_events(room_id, start=start, end=end)))
    room_events_read = [entry.event for entry in logged if entry.event is not None]
    message_ids = list(dict.fromkeys(projector.message_id_of(event) for event in room_events_read))
    state = dict(await store.ask(f"room {room_id}'s messages", messages_by_id, message_ids=message_ids) or {})
    # What MongoDB does not hold (it is out, or its store half has not got this far: a room a few
    # seconds old), the recent cache's live entry stands in for.
    missing = [message_id for message_id in message_ids if message_id not in state]
    state.update(await recent.live_documents(room_id=room_id, message_ids=missing))
    created: set[str] = set()
    at: dict[str, int] = {}  # each message's frame seq
    for event in room_events_read:
        message_id = projector.message_id_of(event)
        current = state.get(message_id)
        if isinstance(event, events.MessageCreated):
            if current is not None and current["seq"] != event.seq:
                continue  # a client's retry, published twice; the first one stands
            state[message_id] = current or projector.apply(None, event)
            created.add(message_id)
            at[message_id] = event.seq
        elif current is None:
            logger.warning(
                "resume of room %s leaves out the %s at seq %s: message %s is in neither MongoDB nor the recent cache",
                room_id, event.__struct_config__.tag, event.seq, message_id,
                extra={"room": room_id, "event_id": event.id, "seq": event.seq, "message_id": message_id},
            )  # fmt: skip
        else:
            # Unchanged when the state already shows this event or a later one.
            state[message_id] = projector.apply(current, event)
            if message_id not in created:
                at[message_id] = event.seq
    return [
        projector.room_event_frame(new=message_id in created, seq=seq, message=state[message_id])
        for message_id, seq in sorted(at.items(), key=lambda pair: pair[1])
    ]


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
            # The error may quote the record's values (message text): elided here.
            logger.warning("skipped %s", logs.elided(str(exc)), extra={"room": room_id, "seq": record.offset()})
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
