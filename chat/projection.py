"""Room events into what the bridge keeps: the history in MongoDB (its store half) and what
the room's members see (its fan-out half); and the history rebuilt from the log.

The halves run as two consumer groups, so each may be ahead of the other; neither needs the
other to be up. Each is safe to repeat after a crash: storing is idempotent by message id and
version, and an event is shown again only if the crash came before it was shown.
"""

from __future__ import annotations

import asyncio
import logging

from chat import cache, projector, recent, repository
from echostream.core import events, groups, kafka, mongo

logger = logging.getLogger(__name__)


class HistoryNotReady(Exception):
    """The event changes a message the fan-out cannot see yet: it is not among the room's
    recent messages cached live, and MongoDB does not hold every event before this one (the
    store half is behind) or does not answer. Try again later; never show it on a guess."""


# The fan-out asks MongoDB only for a change to an older message; waiting longer would hold
# up every room's live events for one that can wait.
HISTORY_READ_SECONDS = 0.5


# --- The store half: MongoDB ---------------------------------------------------------


async def do_store_room_event(*, event: events.RoomEvent) -> None:
    """Folds one room-topic event into the stored history. What the event makes is checked
    against what MongoDB can hold before it is written (a failure there is the record's: the
    bridge dead-letters it), so that any error MongoDB raises after that is taken as the
    store's, waited out, and never a reason to skip the record (`mongo.is_outage`)."""
    if isinstance(event, events.MessageCreated):
        document = projector.apply(None, event)
        repository.check_storable(document)
        _note_stored(event, await repository.store_new(document))
        return
    current = await repository.get(projector.message_id_of(event))
    document = projector.apply(current, event)
    if document is not None and document is not current:
        repository.check_storable(document)
        await repository.replace_if_newer(document)


async def do_store_created(*, created: list[events.MessageCreated]) -> None:
    """`do_store_room_event` for a run of creations, in one unordered insert. The caller
    checked that each one's message is storable (`check_storable`)."""
    documents = [projector.apply(None, event) for event in created]
    for event, outcome in zip(created, await repository.store_many(documents), strict=True):
        _note_stored(event, outcome)


def _note_stored(event: events.MessageCreated, outcome: repository.Stored) -> None:
    if outcome is repository.Stored.DUPLICATE:
        logger.info(
            "dropped duplicate of message %s at seq %s",
            event.id, event.seq,
            extra={"room": event.room, "event_id": event.id, "seq": event.seq},
        )  # fmt: skip
    elif outcome is repository.Stored.SEQ_TAKEN:
        logger.error(
            "room %s: seq %s already holds another message; its topic was re-created. "
            "Run `python manage.py rebuild_projection --room %s --drop`.",
            event.room, event.seq, event.room,
            extra={"room": event.room, "event_id": event.id, "seq": event.seq},
        )  # fmt: skip


# --- The fan-out half: the room's sockets and the Redis caches ------------------------


async def _current(event: events.MessageEdited | events.MessageDeleted) -> projector.MessageDoc | None:
    """The message an edit or delete changes, as of every event before it in the room."""
    message_id = projector.message_id_of(event)
    cached = await recent.live_document(room_id=event.room, message_id=message_id)
    if cached is not None:
        return cached
    # Not among the recent ones: MongoDB knows it once the store half has passed every event
    # before this one. While MongoDB is down, changes to older messages wait for it (the
    # bridge parks that room meanwhile; the other rooms go on).
    stored_until = await asyncio.to_thread(kafka.bridge_store_position, event.room)
    if stored_until is None or stored_until < event.seq:
        raise HistoryNotReady(
            f"message {message_id} of room {event.room}: stored up to {stored_until}, event {event.seq}"
        )
    try:
        with mongo.deadline(HISTORY_READ_SECONDS):
            return await repository.get(message_id)
    except mongo.PyMongoError as exc:
        if mongo.is_outage(exc):
            raise HistoryNotReady(
                f"message {message_id} of room {event.room}: MongoDB does not answer ({exc})"
            ) from exc
        raise


async def _as_shown(event: events.RoomEvent) -> projector.MessageDoc | None:
    """The message as the frame for `event` shows it; None when the event shows nothing."""
    if isinstance(event, events.MessageCreated):
        # The event alone makes the message: live chat needs no MongoDB.
        if not await cache.claim_first_sight(message_id=event.id, room_id=event.room, seq=event.seq):
            _note_not_shown(event)
            return None
        return projector.apply(None, event)
    current = await _current(event)
    document = projector.apply(current, event)
    if document is not None and document is current:
        # Already folded in: shown again only as the event's own version, which a crash
        # between caching and showing it leaves unshown.
        return current if current["version_seq"] == event.seq else None
    return document


async def do_show_room_event(*, event: events.RoomEvent) -> None:
    """Shows one room-topic event to the room's members and keeps the room's Redis caches."""
    if await cache.was_shown(event.id):
        return
    document = await _as_shown(event)
    if document is None:
        return
    # What MongoDB cannot hold is not shown either: the store half dead-letters it too.
    repository.check_storable(document)
    await recent.put(document, live=True)
    prev_seq = await cache.swap_last_shown(room_id=event.room, seq=event.seq)
    frame = projector.room_event_frame(
        new=isinstance(event, events.MessageCreated), seq=event.seq, message=document, prev_seq=prev_seq
    )
    await groups.send_to_room(event.room, frame, occurred_at=event.occurred_at)
    await cache.remember_shown(event.id)


async def do_show_created(*, created: list[events.MessageCreated]) -> None:
    """`do_show_room_event` for a run of creations: the same steps in the same order, for the
    whole run at once: the shown marks and first sights in one Redis round trip, then each further
    step in one (the publishes too, in order). Every step
    is safe to repeat, so a crash or an outage anywhere in the run repeats the run. The caller
    checked that each one's message is storable (`check_storable`)."""
    sightings = await cache.shown_and_first_sights([(event.id, event.room, event.seq) for event in created])
    to_show = []
    for event, (shown, first) in zip(created, sightings, strict=True):
        if not shown and not first:
            _note_not_shown(event)
        elif not shown:
            to_show.append(event)
    if not to_show:
        return
    documents = [projector.apply(None, event) for event in to_show]
    # Neither waits for the other (both only need to be done before the frames go): one round trip.
    _, prev_seqs = await asyncio.gather(
        recent.put_many(documents, live=True),
        cache.swap_all_last_shown([(event.room, event.seq) for event in to_show]),
    )
    await groups.send_to_rooms(
        [
            (event.room, projector.room_event_frame(new=True, seq=event.seq, message=document, prev_seq=prev_seq),
             event.occurred_at)
            for event, document, prev_seq in zip(to_show, documents, prev_seqs, strict=True)
        ]
    )  # fmt: skip
    await cache.remember_all_shown([event.id for event in to_show])


def _note_not_shown(event: events.MessageCreated) -> None:
    logger.info(
        "not showing duplicate of message %s at seq %s",
        event.id, event.seq,
        extra={"room": event.room, "event_id": event.id, "seq": event.seq},
    )  # fmt: skip


# --- Rebuilding from the log (the replay app's commands) ------------------------------


async def do_store_rebuilt(*, messages: list[projector.MessageDoc]) -> tuple[int, list[projector.MessageDoc]]:
    """Stores messages folded from the log; never replaces a version the live bridge already moved past."""
    await repository.ensure_indexes()
    written = await repository.put_all_unless_newer(messages)
    for room_id in {message["room"] for message in messages}:
        await recent.forget(room_id)
    return written


async def do_drop_history(*, room_id: str | None) -> None:
    """Forgets the stored history of one room, or of every room."""
    if room_id is None:
        await repository.drop()
    else:
        await repository.delete_room(room_id)
    await recent.forget(room_id)
    await repository.ensure_indexes()
