"""The moderation role: `echostream.inbound` -> checks and filters -> the room's topic.

Every record of a batch ends one of three ways before the batch's offsets are
committed: its room event published and acknowledged by Kafka (and, when a rule
flagged it, its report opened), its sender told of a refusal, or the record
dead-lettered (`<ns>.deadletter`, with the error) because it cannot be understood
or taken at its word. Nothing reaches a room topic that the filters did not pass,
so nothing refused can ever be replayed. No record can stop the worker; only a
store that is down (the database, or Redis for flood counts) holds a batch, and it
is waited for, never skipped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from asgiref.sync import async_to_sync
from django import db
from django.conf import settings

from chat import backpressure
from echostream import logs
from echostream.core import events, groups, kafka, metrics, mongo, redis, wire
from moderation import filters, services
from moderation.selectors import Lookups

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
ROLE = "moderation"


class Abandoned(Exception):
    """Told to stop while a store was down: the batch is left uncommitted, for whichever
    worker gets its partitions next."""


@dataclass(frozen=True, kw_only=True)
class Rejection:
    user_id: str
    frame: wire.MessageRejected


@dataclass(frozen=True, kw_only=True)
class Publication:
    event: events.RoomEvent
    # The rules that flagged it: a report is opened once Kafka has the event.
    flags: tuple[filters.Flag, ...] = ()


Verdict = Publication | Rejection


def _store_is_down(exc: Exception) -> bool:
    # Values the database refuses are the record's fault. Any other database error (a
    # dropped or closed connection, a locked SQLite file, a schema not yet migrated) is
    # the store's, and dead-lettering records for it would empty the topic into the
    # dead-letter one. Likewise a Redis that cannot count repeats now.
    if redis.is_outage(exc) or mongo.is_outage(exc):
        return True
    return isinstance(exc, db.DatabaseError) and not isinstance(exc, db.DataError | db.IntegrityError)


def _close_connections() -> None:
    # A broken connection stays broken until it is closed; Django opens a new one at
    # the next query. Without this, a dropped PostgreSQL connection fails every retry.
    for connection in db.connections.all(initialized_only=True):
        with contextlib.suppress(db.DatabaseError):
            connection.close()


T = TypeVar("T")


def _until_stores_answer(action: Callable[[], T], *, what: str, stop: threading.Event) -> T:
    """What `action` returns, once the stores answer; raises what the record itself causes."""
    while True:
        try:
            return action()
        except Exception as exc:
            if not _store_is_down(exc):
                raise
            logger.warning("%s failed (%s); retrying it", what, exc)
            _close_connections()
            if stop.wait(RETRY_SECONDS):
                raise Abandoned from exc


def _checked(
    event: services.Inbound, *, stop: threading.Event, lookups: Lookups, repeats: int | None = None
) -> services.Accepted | services.Refusal:
    """The event's verdict, once the stores answer; raises what the record itself causes."""
    with logs.context(room=event.room, event_id=event.id, user_id=event.actor):
        return _until_stores_answer(
            lambda: services.check_inbound(event=event, lookups=lookups, repeats=repeats),
            what=f"checking event {event.id}",
            stop=stop,
        )


def _counted_repeats(records: list[kafka.Message], *, stop: threading.Event) -> list[int | None]:
    """Each record's flood count (None: not counted here; `judge` counts it, if it counts at all),
    the batch's counted in one round trip, once the stores answer. A record that does not decode
    is left to `judge`, which sets it aside; so is the whole batch, counted one event at a time,
    when counting raises for anything but a store that is down. The same send twice in a batch
    counts once, and each copy gets the count of its own place in the batch, as when each is
    counted as it is judged."""
    submissions: dict[int, events.MessageSubmitted] = {}
    for position, record in enumerate(records):
        with contextlib.suppress(Exception):
            if isinstance(event := events.decode(record.value() or b""), events.MessageSubmitted):
                submissions[position] = event
    try:
        counts = _until_stores_answer(
            lambda: services.count_repeats(submissions=list(submissions.values())),
            what="counting the batch's repeats",
            stop=stop,
        )
    except Abandoned:
        raise
    except Exception as exc:
        logger.warning("could not count the batch's repeats together (%s); counting each alone", exc)
        return [None] * len(records)
    by_position = dict(zip(submissions, counts, strict=True))
    return [by_position.get(position) for position in range(len(records))]


def _count(verdict: services.Accepted | services.Refusal) -> None:
    # One outcome per event: a flagged message goes to the moderators whether or not it was censored too.
    if isinstance(verdict, services.Refusal):
        outcome = "reject"
        metrics.refused(role=ROLE, reason=verdict.reason)
    elif verdict.flags:
        outcome = "flag"
    elif verdict.body is not None:
        outcome = "censor"
    else:
        outcome = "allow"
    metrics.MODERATION_CHECKED.labels(role=ROLE, outcome=outcome).inc()


def judge(
    record: kafka.Message,
    *,
    stop: threading.Event,
    lookups: Lookups | None = None,
    repeats: int | None = None,
) -> Verdict | None:
    """What one inbound record becomes: the room event to publish, or the rejection to tell
    its sender; None once it is dead-lettered. Never raises for anything in the record.
    `lookups`: the reads of the batch it is judged with; `repeats`: its flood count, when the
    batch's were counted together (`_counted_repeats`)."""
    with logs.context(**kafka.log_fields(record)):
        return _judged(record, stop=stop, lookups=lookups or Lookups(), repeats=repeats)


def _judged(record: kafka.Message, *, stop: threading.Event, lookups: Lookups, repeats: int | None) -> Verdict | None:
    try:
        event = events.decode(record.value() or b"")
        if not isinstance(event, services.Inbound):
            raise services.Unprocessable(f"{type(event).__name__} is not an inbound event")
        services.check_occurred_near_its_record(event=event, recorded_at=kafka.record_time(record))
        verdict = _checked(event, stop=stop, lookups=lookups, repeats=repeats)
        _count(verdict)
        if isinstance(verdict, services.Refusal):
            # The reason's code only: the detail for the sender may quote the words a rule found.
            logger.info(
                "refused %s: %s",
                type(event).__struct_config__.tag, verdict.reason,
                extra={"room": event.room, "event_id": event.id, "user_id": event.actor, "reason": verdict.reason},
            )  # fmt: skip
            return Rejection(user_id=event.actor, frame=services.rejection_frame(event=event, refusal=verdict))
        return Publication(event=services.accepted(event=event, verdict=verdict), flags=verdict.flags)
    except Abandoned:
        raise
    # Whatever the record makes the checks raise is the record's doing: it is set aside
    # with the error rather than allowed to stop the worker at every restart.
    except Exception as exc:
        try:
            # Waits while Kafka is down; a stop meanwhile leaves the batch uncommitted.
            kafka.dead_letter(record, error=f"{type(exc).__name__}: {exc}", role=ROLE, stop=stop)
        except kafka.DeadLetterStopped:
            raise Abandoned from exc
        return None


def _publish(
    producer: kafka.Producer, room_events: list[events.RoomEvent], *, offsets: dict[str, int] | None = None
) -> list[events.RoomEvent]:
    """Publishes the events and waits for Kafka; returns what must go again: everything
    from the first event it did not acknowledge on, so that a room's order holds (a
    repeat of an acknowledged event is harmless: the projector knows it). `offsets`
    gets each acknowledged event's offset (its seq) by event id."""
    undelivered: list[int] = []

    def reporter(index: int) -> Callable[[kafka.KafkaError | None, kafka.Message], None]:
        def report(error: kafka.KafkaError | None, message: kafka.Message) -> None:
            if error is not None:
                event = room_events[index]
                logger.warning(
                    "event %s not published: %s", event.id, error, extra={"room": event.room, "event_id": event.id}
                )
                undelivered.append(index)
            elif offsets is not None:
                offsets[room_events[index].id] = message.offset()

        return report

    for index, room_event in enumerate(room_events):
        producer.produce(
            kafka.room_topic(room_event.room),
            key=room_event.room.encode(),
            value=events.encode(room_event),
            on_delivery=reporter(index),
        )
        producer.poll(0)
    producer.flush()
    return room_events[min(undelivered) :] if undelivered else []


def _tell(rejection: Rejection) -> None:
    try:
        async_to_sync(groups.send_to_user)(rejection.user_id, rejection.frame)
    except Exception as exc:
        # Best effort, and never a reason to stop: the sender's message stays without
        # its `message.new` either way.
        logger.warning(
            "could not tell %s of a rejection: %s",
            rejection.user_id, exc,
            extra={"user_id": rejection.user_id, "room": rejection.frame.room},
        )  # fmt: skip


def handle_batch(producer: kafka.Producer, records: list[kafka.Message], *, stop: threading.Event) -> None:
    """Judges and acts on every record of a batch; returns only when all of it is done,
    raises `Abandoned` when told to stop while a store is down."""
    lookups = Lookups(batch=(parties for record in records if (parties := events.parties(record.value()))))
    counted = _counted_repeats(records, stop=stop)
    verdicts = [
        verdict
        for record, repeats in zip(records, counted, strict=True)
        if (verdict := judge(record, stop=stop, lookups=lookups, repeats=repeats)) is not None
    ]
    publications = [verdict for verdict in verdicts if isinstance(verdict, Publication)]
    offsets: dict[str, int] = {}
    unpublished = [publication.event for publication in publications]
    while unpublished := _publish(producer, unpublished, offsets=offsets):
        logger.warning("%d events not published; retrying them", len(unpublished))
        if stop.wait(RETRY_SECONDS):
            raise Abandoned
    for publication in publications:
        _log_published(publication, seq=offsets.get(publication.event.id))
    # Reports only for what the room has: a flagged message is always one members saw.
    for publication in publications:
        if publication.flags:
            _flag(publication, seq=offsets.get(publication.event.id), stop=stop)
    for verdict in verdicts:
        if isinstance(verdict, Rejection):
            _tell(verdict)


def _log_published(publication: Publication, *, seq: int | None) -> None:
    # What moderation did to a message is worth a line; a message passed as it was, only at DEBUG.
    # The rules' names only: their reasons quote the words they found.
    event = publication.event
    censored = not isinstance(event, events.MessageDeleted) and event.data.moderation is not None
    logger.log(
        logging.INFO if censored or publication.flags else logging.DEBUG,
        "published %s%s%s",
        type(event).__struct_config__.tag,
        " (censored)" if censored else "",
        f" (flagged: {', '.join(flag.rule for flag in publication.flags)})" if publication.flags else "",
        extra={"room": event.room, "event_id": event.id, "seq": seq, "user_id": event.actor},
    )


def _flag(publication: Publication, *, seq: int | None, stop: threading.Event) -> None:
    event = publication.event
    if isinstance(event, events.MessageDeleted):
        return
    try:
        _until_stores_answer(
            lambda: services.do_flag(event=event, seq=seq, flags=publication.flags),
            what=f"flagging event {event.id}",
            stop=stop,
        )
    except Abandoned:
        raise
    except Exception:
        # The message is delivered; a report that cannot be written (not for a store being
        # down: that is waited for) must not hold the room's later messages.
        logger.exception(
            "could not open the report on event %s",
            event.id,
            extra={"room": event.room, "event_id": event.id, "seq": seq},
        )


def _note_lag(records: list[kafka.Message]) -> None:
    """How late this worker takes the batch (backpressure). Best effort: with Redis down the
    batch is judged all the same, and the next late batch notes it again."""
    appended_at = kafka.oldest_time(records)
    if appended_at is None or not backpressure.is_late(appended_at=appended_at):
        return
    try:
        async_to_sync(backpressure.note_taken)(appended_at=appended_at)
    except Exception as exc:
        logger.warning("could not note how late moderation runs: %s", exc)


def run(stop: threading.Event) -> None:
    """Consumes until `stop` is set; then finishes the batch in hand (or, with a store down,
    abandons it uncommitted), flushes, commits what is done and leaves the group."""
    kafka.ensure_inbound_topic()
    producer = kafka.make_sync_producer()
    consumer = kafka.make_consumer(group_id=kafka.moderation_group())
    consumer.subscribe([kafka.inbound_topic()])
    logger.info("moderation consuming %s", kafka.inbound_topic())
    gathering = kafka.Gathering(busy_rate=settings.MODERATION_BUSY_RATE, linger=settings.MODERATION_BUSY_GATHER_SECONDS)
    try:
        while not stop.is_set():
            records = kafka.next_batch(consumer, linger=gathering.next_linger())
            if not records:
                continue
            gathering.took(len(records))
            _note_lag(records)
            # A batch is this role's request: Django renews connections only at HTTP request
            # boundaries, so without this a connection that a database restart broke would
            # fail the batch's first check, and one would be kept past CONN_MAX_AGE forever.
            # Health checks (settings) then try a kept connection before the batch's first query.
            db.close_old_connections()
            try:
                handle_batch(producer, records, stop=stop)
            except Abandoned:
                logger.warning("stopping with a batch unfinished; it stays uncommitted for the next worker")
                break
            finally:
                db.close_old_connections()
            # Not waited for: a commit lost to a crash only means the batch is judged again,
            # and what it published again the bridges know by its id.
            kafka.commit_done(consumer, wait=False)
        else:
            kafka.commit_done(consumer)  # stopping with every batch done: all of it, for sure
    finally:
        producer.flush(10)
        consumer.close()
        logger.info("moderation stopped")
