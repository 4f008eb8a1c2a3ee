"""The bridge role: room topics in Kafka -> members' sockets, and -> MongoDB history.

Two halves in one process, each its own consumer group that commits only what it finished:
fan-out (`kafka.bridge_group()`, the position resume reads) shows each event to its room and
keeps the Redis caches; store (`kafka.bridge_store_group()`) writes MongoDB. A MongoDB outage
stops only the store half: live chat goes on, and the history catches up when MongoDB returns.

Every record is applied or dead-lettered, never the cause of a crash: a store that is down is
waited for (never a reason to skip); any other failure a record causes puts it on the
dead-letter topic with the error, and the half goes on. A change to an older message that the
fan-out cannot see without MongoDB parks only that room (its partition paused and sought back)
until MongoDB has it. On stop, each half finishes the batch in hand (a record waiting for a
store that is down stays for the next run), commits what it finished, and closes its consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chat import backpressure, projection, projector, repository
from echostream import logs
from echostream.core import events, kafka, metrics, mongo, redis

logger = logging.getLogger(__name__)

OUTAGE_RETRY_SECONDS = 1.0
# A room whose next event waits for the history is tried again after this, doubling to the most.
PARKED_RETRY_SECONDS = 0.1
PARKED_RETRY_MAX_SECONDS = 5.0


@dataclass(frozen=True, kw_only=True)
class Half:
    role: str
    group: Callable[[], str]
    apply: Callable[..., Awaitable[None]]
    # `apply` for a run of consecutive creations at once (`created=`): the bulk of any batch.
    apply_created: Callable[..., Awaitable[None]]
    # Run before consuming, retried while a store is down.
    prepare: Callable[[], Awaitable[None]] | None = None
    # Seconds a batch waits after its first record for more to join it.
    linger: float = 0.0
    # Someone waits on what this half does live: it sees a new room within the second DESIGN asks.
    waited_on: bool = True


FANOUT = Half(
    role="bridge-fanout",
    group=kafka.bridge_group,
    apply=projection.do_show_room_event,
    apply_created=projection.do_show_created,
)
STORE = Half(
    role="bridge-store",
    group=kafka.bridge_store_group,
    apply=projection.do_store_room_event,
    apply_created=projection.do_store_created,
    prepare=repository.ensure_indexes,
    # MongoDB's cost is per write, whatever it holds, and no one waits on this half but a resume
    # or an edit of an older message: gathering a batch for a moment costs them that moment.
    linger=0.05,
    waited_on=False,
)


class Stopping(Exception):
    """The role stops while a record waits for a store: the record stays for the next run."""


def is_outage(exc: BaseException) -> bool:
    """A store (or Kafka, asked for the store half's position) that cannot do it for now: wait,
    never skip. Any MongoDB error but a duplicate key (the store half checks first what MongoDB
    can hold, and a failure there is the record's) and any Redis error but a value its client
    cannot encode."""
    return mongo.is_outage(exc) or redis.is_outage(exc) or isinstance(exc, OSError | kafka.KafkaException)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    if stop.is_set():
        raise Stopping()


async def _until_done(action: Callable[[], Awaitable[None]], *, what: str, stop: asyncio.Event) -> None:
    """Runs `action` until it succeeds, waiting while a store is down; other errors propagate."""
    while True:
        try:
            await action()
            return
        except Exception as exc:
            if not is_outage(exc):
                raise
            logger.warning("%s waits: %s: %s", what, type(exc).__name__, exc)
            await _pause(stop, OUTAGE_RETRY_SECONDS)


async def process(record: kafka.Message, *, half: Half, stop: asyncio.Event) -> str | None:
    """Applies one record of a room topic: None once applied, else why it cannot be (for the
    dead-letter topic). Waits while a store is down; raises Stopping if the role stops meanwhile,
    and HistoryNotReady if the event must wait for the store half (the caller parks its room)."""
    # Whatever is logged about the record (a store's outage meanwhile, a duplicate) says which it is.
    with logs.context(consumer=half.role, **kafka.log_fields(record)):
        return await _process(record, half=half, stop=stop)


async def _process(record: kafka.Message, *, half: Half, stop: asyncio.Event) -> str | None:
    try:
        event = projector.record_to_event(
            room_id=kafka.room_id_from_topic(record.topic()), offset=record.offset(), value=record.value()
        )
    except projector.NotARoomEvent as exc:
        return str(exc)

    async def apply() -> None:
        await half.apply(event=event)

    try:
        with logs.context(event_id=event.id):
            await _until_done(apply, what=f"{half.role}: event {event.id} at {event.room}@{event.seq}", stop=stop)
            logger.debug("%s applied %s", half.role, type(event).__struct_config__.tag)
    except (Stopping, projection.HistoryNotReady):
        raise
    except Exception as exc:
        return f"{type(exc).__name__} applying {type(event).__name__} at {event.room}@{event.seq}: {exc}"
    return None


class _Done:
    """The next offset of each partition whose records this half finished, not yet committed."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = {}

    def add(self, record: kafka.Message) -> None:
        self._next[(record.topic(), record.partition())] = record.offset() + 1

    def take(self, partitions: list[kafka.TopicPartition] | None = None) -> list[kafka.TopicPartition]:
        keys = list(self._next) if partitions is None else [(p.topic, p.partition) for p in partitions]
        return [kafka.TopicPartition(*key, self._next.pop(key)) for key in keys if key in self._next]


class _Parked:
    """Partitions whose next record waits for the store half: paused, so that the other rooms
    go on, and sought back to that record, which comes again once they resume."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, int], float] = {}
        self._resume_at: dict[tuple[str, int], int] = {}
        self._delay: dict[tuple[str, int], float] = {}

    def park(self, consumer: kafka.Consumer, record: kafka.Message) -> bool:
        """Parks the record's partition at the record; False if Kafka refused (then wait inline)."""
        key = (record.topic(), record.partition())
        position = kafka.TopicPartition(record.topic(), record.partition(), record.offset())
        try:
            consumer.pause([position])
            consumer.seek(position)
        except kafka.KafkaException as exc:
            logger.warning("could not park %s[%d]@%d: %s", *key, record.offset(), exc, extra=kafka.log_fields(record))
            with contextlib.suppress(kafka.KafkaException):
                consumer.resume([position])
            return False
        delay = self._delay.get(key, PARKED_RETRY_SECONDS / 2) * 2
        self._delay[key] = min(delay, PARKED_RETRY_MAX_SECONDS)
        self._until[key] = time.monotonic() + self._delay[key]
        self._resume_at[key] = record.offset()
        return True

    def settled(self, record: kafka.Message) -> None:
        """The record is done: its partition's next wait starts short again."""
        self._delay.pop((record.topic(), record.partition()), None)

    def passes_over(self, record: kafka.Message) -> bool:
        """Whether to leave the record for later: its partition is parked, or it is a copy
        fetched before the seek (the seek brings it again, in order)."""
        key = (record.topic(), record.partition())
        if key in self._until:
            return True
        expected = self._resume_at.get(key)
        if expected is None:
            return False
        if record.offset() != expected:
            return True
        del self._resume_at[key]
        return False

    def release_due(self, consumer: kafka.Consumer) -> None:
        now = time.monotonic()
        due = [key for key, until in self._until.items() if until <= now]
        for key in due:
            del self._until[key]
        if due:
            consumer.resume([kafka.TopicPartition(topic, partition) for topic, partition in due])

    def forget(self, partitions: list[kafka.TopicPartition]) -> None:
        for partition in partitions:
            for state in (self._until, self._resume_at, self._delay):
                state.pop((partition.topic, partition.partition), None)


@dataclass(frozen=True, kw_only=True)
class _Consuming:
    """A half's consumer at work: what applying each of its records needs."""

    half: Half
    consumer: kafka.Consumer
    done: _Done
    parked: _Parked
    stop: asyncio.Event


async def _apply_or_park(record: kafka.Message, at: _Consuming) -> tuple[bool, str | None]:
    """(parked, error): the record's partition parked to wait for the store half, or the
    record processed, with why it cannot be applied when it cannot."""
    while True:
        try:
            return False, await process(record, half=at.half, stop=at.stop)
        except projection.HistoryNotReady:
            if at.parked.park(at.consumer, record):
                return True, None
            await _pause(at.stop, PARKED_RETRY_SECONDS)


def _creation(record: kafka.Message) -> events.MessageCreated | None:
    """The record's event when it is a creation that a run may take (one whose message MongoDB
    can hold); None for anything else, which is applied on its own."""
    try:
        event = projector.record_to_event(
            room_id=kafka.room_id_from_topic(record.topic()), offset=record.offset(), value=record.value()
        )
        if not isinstance(event, events.MessageCreated):
            return None
        repository.check_storable(projector.apply(None, event))
    except Exception:
        return None
    return event


async def _note_lag(batch: list[kafka.Message], at: _Consuming) -> None:
    """How late the fan-out takes the batch, before members can see any of it (backpressure);
    the store half, which no one waits on live, slows no one."""
    appended_at = kafka.oldest_time(batch)
    if not at.half.waited_on or appended_at is None or not backpressure.is_late(appended_at=appended_at):
        return

    async def note() -> None:
        await backpressure.note_taken(appended_at=appended_at)

    await _until_done(note, what=f"{at.half.role}: noting how late it runs", stop=at.stop)


async def _process_batch(batch: list[kafka.Message], at: _Consuming) -> None:
    """Applies the batch in order: consecutive creations as one run, anything else on its own
    (after the run before it, which an edit or a delete may need)."""
    run: list[tuple[kafka.Message, events.MessageCreated]] = []
    for record in batch:
        if at.parked.passes_over(record):
            continue
        if (created := _creation(record)) is not None:
            run.append((record, created))
            continue
        await _apply_run(run, at)
        run = []
        await _apply_one(record, at)
    await _apply_run(run, at)


async def _apply_run(run: list[tuple[kafka.Message, events.MessageCreated]], at: _Consuming) -> None:
    if not run:
        return

    async def apply() -> None:
        await at.half.apply_created(created=[created for _, created in run])

    try:
        with logs.context(consumer=at.half.role):
            await _until_done(apply, what=f"{at.half.role}: a run of {len(run)} creations", stop=at.stop)
    except Stopping:
        raise
    except Exception:
        # Not an outage: one of them caused it. Each on its own, so that only that one is set aside.
        logger.warning("%s: a run of %d creations failed; applying each on its own", at.half.role, len(run),
                       exc_info=True)  # fmt: skip
        for record, _ in run:
            await _apply_one(record, at)
        return
    metrics.BRIDGE_EVENTS_APPLIED.labels(role=at.half.role).inc(len(run))
    for record, _ in run:
        at.done.add(record)
        at.parked.settled(record)


async def _apply_one(record: kafka.Message, at: _Consuming) -> None:
    now_parked, error = await _apply_or_park(record, at)
    if now_parked:
        return
    if error is not None:
        try:
            # Waits while Kafka is down; a stop meanwhile leaves the record for the next run.
            await asyncio.to_thread(kafka.dead_letter, record, error=error, role=at.half.role, stop=at.stop.is_set)
        except kafka.DeadLetterStopped:
            raise Stopping() from None
    else:
        metrics.BRIDGE_EVENTS_APPLIED.labels(role=at.half.role).inc()
    at.done.add(record)
    at.parked.settled(record)


def _commit(consumer: kafka.Consumer, done: _Done, partitions: list[kafka.TopicPartition] | None = None) -> None:
    offsets = done.take(partitions)
    if offsets:
        kafka.commit_done(consumer, offsets)


async def _consume(half: Half, stop: asyncio.Event) -> None:
    if half.prepare is not None:
        try:
            await _until_done(half.prepare, what=f"{half.role}: preparing", stop=stop)
        except Stopping:
            return
    done, parked = _Done(), _Parked()

    def on_revoke(consumer: kafka.Consumer, partitions: list[kafka.TopicPartition]) -> None:
        # A partition handed to another bridge (or given up on close) keeps what this one finished.
        _commit(consumer, done, partitions)
        parked.forget(partitions)

    consumer = kafka.make_room_consumer(group_id=half.group(), waited_on=half.waited_on)
    consumer.subscribe([kafka.room_topic_pattern()], on_revoke=on_revoke)
    at = _Consuming(half=half, consumer=consumer, done=done, parked=parked, stop=stop)
    logger.info("%s consuming %s", half.role, kafka.room_topic_pattern(), extra={"consumer": half.role})
    try:
        while not stop.is_set():
            parked.release_due(consumer)
            batch = await asyncio.to_thread(kafka.next_batch, consumer, linger=half.linger)
            with contextlib.suppress(Stopping):
                await _note_lag(batch, at)
                await _process_batch(batch, at)
            await asyncio.to_thread(_commit, consumer, done)
    finally:
        await asyncio.to_thread(_commit, consumer, done)
        await asyncio.to_thread(consumer.close)
        logger.info("%s stopped", half.role, extra={"consumer": half.role})


async def run(stop: asyncio.Event) -> None:
    """Both halves until `stop` is set; each then finishes its batch, commits and closes."""
    async with asyncio.TaskGroup() as halves:
        for half in (FANOUT, STORE):
            halves.create_task(_consume(half, stop))
