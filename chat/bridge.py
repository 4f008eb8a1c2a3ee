"""The bridge role: room topics in Kafka -> members' sockets, and -> MongoDB history.

Two halves in one process, each its own consumer group that commits only what it finished:
fan-out (`kafka.bridge_group()`, the position resume reads) shows each event to its room and
keeps the Redis caches; store (`kafka.bridge_store_group()`) writes MongoDB. A MongoDB outage
stops only the store half: live chat goes on, and the history catches up when MongoDB returns.

Every record is applied or dead-lettered, never the cause of a crash: a store that is down is
waited for (never a reason to skip); any other failure a record causes puts it on the
dead-letter topic with the error, and the half goes on. On stop, each half finishes the batch
in hand (a record waiting for a store that is down stays for the next run), commits what it
finished, and closes its consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chat import projection, projector, repository
from echostream.core import kafka, mongo, redis

logger = logging.getLogger(__name__)

OUTAGE_RETRY_SECONDS = 1.0
NOT_STORED_RETRY_SECONDS = 0.1


@dataclass(frozen=True, kw_only=True)
class Half:
    role: str
    group: Callable[[], str]
    apply: Callable[..., Awaitable[None]]
    # Run before consuming, retried while a store is down.
    prepare: Callable[[], Awaitable[None]] | None = None


FANOUT = Half(role="bridge-fanout", group=kafka.bridge_group, apply=projection.do_show_room_event)
STORE = Half(
    role="bridge-store",
    group=kafka.bridge_store_group,
    apply=projection.do_store_room_event,
    prepare=repository.ensure_indexes,
)


class Stopping(Exception):
    """The role stops while a record waits for a store: the record stays for the next run."""


def is_outage(exc: BaseException) -> bool:
    """A store (or Kafka, asked for the store half's position) that is down: wait, never skip."""
    return (
        mongo.is_outage(exc) or redis.is_outage(exc) or isinstance(exc, OSError | kafka.KafkaException)
    )  # fmt: skip


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
        except projection.NotStoredYet:
            await _pause(stop, NOT_STORED_RETRY_SECONDS)
        except Exception as exc:
            if not is_outage(exc):
                raise
            logger.warning("%s waits: %s: %s", what, type(exc).__name__, exc)
            await _pause(stop, OUTAGE_RETRY_SECONDS)


async def process(record: kafka.Message, *, half: Half, stop: asyncio.Event) -> str | None:
    """Applies one record of a room topic: None once applied, else why it cannot be (for the
    dead-letter topic). Waits while a store is down; raises Stopping if the role stops meanwhile."""
    try:
        event = projector.record_to_event(
            room_id=kafka.room_id_from_topic(record.topic()), offset=record.offset(), value=record.value()
        )
    except projector.NotARoomEvent as exc:
        return str(exc)

    async def apply() -> None:
        await half.apply(event=event)

    try:
        await _until_done(apply, what=f"{half.role}: event {event.id} at {event.room}@{event.seq}", stop=stop)
    except Stopping:
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
        return [kafka.TopicPartition(topic, part, self._next.pop((topic, part))) for topic, part in keys
                if (topic, part) in self._next]  # fmt: skip


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
    done = _Done()

    def on_revoke(consumer: kafka.Consumer, partitions: list[kafka.TopicPartition]) -> None:
        # A partition handed to another bridge (or given up on close) keeps what this one finished.
        _commit(consumer, done, partitions)

    consumer = kafka.make_consumer(group_id=half.group(), **{"max.poll.interval.ms": 600000})
    consumer.subscribe([kafka.room_topic_pattern()], on_revoke=on_revoke)
    logger.info("%s consuming %s", half.role, kafka.room_topic_pattern())
    try:
        while not stop.is_set():
            batch = await asyncio.to_thread(kafka.next_batch, consumer)
            with contextlib.suppress(Stopping):
                for record in batch:
                    error = await process(record, half=half, stop=stop)
                    if error is not None:
                        await asyncio.to_thread(kafka.dead_letter, record, error=error, role=half.role)
                    done.add(record)
            await asyncio.to_thread(_commit, consumer, done)
    finally:
        await asyncio.to_thread(_commit, consumer, done)
        await asyncio.to_thread(consumer.close)
        logger.info("%s stopped", half.role)


async def run(stop: asyncio.Event) -> None:
    """Both halves until `stop` is set; each then finishes its batch, commits and closes."""
    async with asyncio.TaskGroup() as halves:
        for half in (FANOUT, STORE):
            halves.create_task(_consume(half, stop))
