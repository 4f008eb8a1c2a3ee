"""The only module that builds Kafka clients and knows topic names."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec
from django.conf import settings

from echostream import logs
from echostream.core import events, metrics

logger = logging.getLogger(__name__)

__all__ = [
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "AsyncProducer",
    "Consumer",
    "DeadLetterStopped",
    "Gathering",
    "GroupLag",
    "GroupMembers",
    "KafkaError",
    "KafkaException",
    "Message",
    "Producer",
    "Stop",
    "TopicPartition",
    "bridge_group",
    "bridge_position",
    "bridge_positions",
    "bridge_store_group",
    "bridge_store_position",
    "bridge_store_positions",
    "commit_done",
    "consumer_group_lags",
    "consumer_group_members",
    "dead_letter",
    "deadletter_topic",
    "deadletter_topic_config",
    "delete_room_topic",
    "enqueue_inbound",
    "ensure_inbound_topic",
    "ensure_room_topic",
    "inbound_topic",
    "make_consumer",
    "make_room_consumer",
    "make_sync_producer",
    "moderation_group",
    "next_batch",
    "oldest_time",
    "ping_once",
    "producer",
    "read_room",
    "record_time",
    "room_id_from_topic",
    "room_offset_at",
    "room_offsets",
    "room_topic",
    "room_topic_config",
    "room_topic_pattern",
    "room_topics",
    "send_inbound",
    "start_producer_in_background",
    "topic_configs",
    "topic_partition_counts",
]


def _prefix() -> str:
    return settings.ECHOSTREAM_NAMESPACE


def inbound_topic() -> str:
    return f"{_prefix()}.inbound"


def deadletter_topic() -> str:
    return f"{_prefix()}.deadletter"


def room_topic(room_id: str) -> str:
    # The one place that maps a room to its topic: a later shared, partitioned
    # layout for very many rooms changes only this function and the two below.
    return f"{_prefix()}.room.{room_id}"


def room_topic_pattern() -> str:
    # Only dots need escaping: topic names hold nothing else a regex treats specially, and
    # librdkafka's own regex engine need not know Python's other escapes.
    return "^" + room_topic("").replace(".", r"\.") + ".+"


def room_id_from_topic(topic: str) -> str:
    return topic.removeprefix(room_topic(""))


def bridge_group() -> str:
    # The bridge's fan-out half: what it committed was shown live, so resume reads its position.
    return f"{_prefix()}.bridge"


def bridge_store_group() -> str:
    # The bridge's store half: what it committed is in MongoDB.
    return f"{_prefix()}.bridge-store"


def moderation_group() -> str:
    return f"{_prefix()}.moderation"


def _base_config() -> dict[str, Any]:
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS}


def _producer_config() -> dict[str, Any]:
    return {
        **_base_config(),
        "enable.idempotence": True,
        "acks": "all",
        # Chat wants each message on the wire now, not batched for throughput: what is waiting
        # after a millisecond goes as one batch (the moderation worker's are whole batches).
        "linger.ms": 1,
        # Cheap enough per record, and batches of chat text shrink to a fraction.
        "compression.type": "lz4",
        # A send not acknowledged within this is answered `unavailable`, not left hanging.
        "message.timeout.ms": 10000,
    }


def make_sync_producer() -> Producer:
    return Producer(_producer_config())


def make_consumer(*, group_id: str, **overrides: Any) -> Consumer:
    config = {
        **_base_config(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # A pattern subscription only sees a new room topic at a metadata
        # refresh; the default five minutes would hold a new room's first message.
        "topic.metadata.refresh.interval.ms": 300,
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
        "fetch.wait.max.ms": 50,
        **overrides,
    }
    return Consumer(config)


def make_room_consumer(*, group_id: str, waited_on: bool) -> Consumer:
    """A consumer of every room topic, for `subscribe([room_topic_pattern()])`. With a topic per
    room, what an idle consumer does costs per room: each metadata refresh lists every topic, and
    each fetch names every partition (librdkafka has no incremental fetch sessions). So only a
    consumer someone waits on live (the fan-out) pays for a new room seen within a second; one
    that nobody waits on (the store half, whose lag the reads and the resume cover) refreshes and
    fetches idle rooms a tenth as often."""
    unhurried = {
        "topic.metadata.refresh.interval.ms": 3000,
        # A fetch returns as soon as a record comes; this is how long one waits when none does.
        "fetch.wait.max.ms": 500,
    }
    return make_consumer(group_id=group_id, **{"max.poll.interval.ms": 600000, **({} if waited_on else unhurried)})


class AsyncProducer:
    """An idempotent, acks=all producer whose `enqueue` gives a future that resolves when Kafka has
    the record.

    librdkafka reports deliveries only from `poll()`, so a daemon thread polls and
    hands each report back to the event loop that asked for it.
    """

    def __init__(self) -> None:
        self._producer = Producer(_producer_config())
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-producer-poll", daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    async def enqueue(self, *, topic: str, key: str, value: bytes) -> asyncio.Future[Message]:
        """Hands the record to librdkafka and returns at once; the future resolves when Kafka has
        it. Records enqueued one after another keep that order in their partition (idempotent
        producer), so a caller may enqueue its next record before the last one is acknowledged."""
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[Message] = loop.create_future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            # Runs on the poll thread, which must outlive a closed loop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, delivered, error, message)

        while True:
            try:
                self._producer.produce(topic, value=value, key=key.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                await asyncio.sleep(0.01)
        return delivered

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
        self._closed.set()


def _settle(future: asyncio.Future[Message], error: KafkaError | None, message: Message) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(KafkaException(error))
    else:
        future.set_result(message)


@functools.cache
def _admin() -> AdminClient:
    # One per process: each new client costs a connection and a metadata round trip.
    return AdminClient(_base_config())


def _create_topics(topics: Iterable[NewTopic]) -> None:
    for topic, future in _admin().create_topics(list(topics), operation_timeout=10).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            logger.debug("topic %s already exists", topic)


# A record's time is the broker's, set as it appends the record: how late a consumer takes it
# (chat.backpressure) must not be whatever a record's writer says.
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


def room_topic_config() -> dict[str, str]:
    """The settings a room topic is created with (and that `manage.py doctor` expects it to have)."""
    return {"retention.ms": str(settings.KAFKA_ROOM_RETENTION_MS), "cleanup.policy": "delete", **APPEND_TIME}


def ensure_room_topic(room_id: str) -> None:
    _create_topics([NewTopic(room_topic(room_id), num_partitions=1, replication_factor=1, config=room_topic_config())])


def delete_room_topic(room_id: str) -> None:
    """Deletes the room's topic and what it holds; a topic already gone is fine."""
    for topic, future in _admin().delete_topics([room_topic(room_id)], operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            logger.debug("topic %s was already gone", topic)


def ensure_inbound_topic() -> None:
    _create_topics(
        [
            NewTopic(
                inbound_topic(),
                num_partitions=settings.KAFKA_INBOUND_PARTITIONS,
                replication_factor=1,
                config=APPEND_TIME,
            )
        ]
    )


class DeadLetter(msgspec.Struct, kw_only=True):
    """What the dead-letter topic holds about a record no consumer could process: enough
    to find it again (topic, partition, offset) and to read it (its bytes, as text when
    they are text) without going back to a topic whose retention may since have dropped it."""

    error: str
    role: str
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value_base64: str
    value_text: str | None
    dead_lettered_at: str


def _as_text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


# A letter holds its record twice (base64 and text), and text escaped as JSON may grow
# sixfold: room for a record of the broker's default limit (1 MB) and more.
DEADLETTER_MAX_BYTES = 8 * 1024 * 1024


def deadletter_topic_config() -> dict[str, str]:
    """The settings the dead-letter topic is created with: room for the largest letter."""
    return {"max.message.bytes": str(DEADLETTER_MAX_BYTES)}


# Kafka being down is retried after this; a stop is looked for at least this often.
DEADLETTER_RETRY_SECONDS = 1.0
# One attempt to create the dead-letter topic gives up after this (the client's default is 60 s).
DEADLETTER_REQUEST_SECONDS = 15.0
# Topics already made by this process (one per namespace).
_deadletter_topics_made: set[str] = set()

Stop = threading.Event | Callable[[], bool]


class DeadLetterStopped(Exception):
    """Told to stop before Kafka acknowledged a dead letter: the record is not done, and the
    caller must not commit past it (whoever consumes it next dead-letters it again)."""


def _stopped(stop: Stop | None) -> bool:
    if stop is None:
        return False
    return stop.is_set() if isinstance(stop, threading.Event) else stop()


def _pause(stop: Stop | None, seconds: float) -> None:
    """Sleeps `seconds`, or less when told to stop (then raises DeadLetterStopped)."""
    if isinstance(stop, threading.Event):
        stop.wait(seconds)
    else:
        deadline = time.monotonic() + seconds
        while not _stopped(stop) and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
    if _stopped(stop):
        raise DeadLetterStopped()


def _ensure_deadletter_topic(stop: Stop | None) -> None:
    """Creates the dead-letter topic once per process; raises KafkaException while Kafka is
    down, DeadLetterStopped when told to stop meanwhile."""
    topic = deadletter_topic()
    if topic in _deadletter_topics_made:
        return
    futures = _admin().create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1, config=deadletter_topic_config())],
        operation_timeout=10,
        request_timeout=DEADLETTER_REQUEST_SECONDS,
    )
    (future,) = futures.values()
    while not future.done():
        concurrent.futures.wait([future], timeout=0.5)
        if not future.done() and _stopped(stop):
            raise DeadLetterStopped()
    try:
        future.result()
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    _deadletter_topics_made.add(topic)


@functools.cache
def _deadletter_producer() -> Producer:
    return Producer({**_producer_config(), "message.max.bytes": DEADLETTER_MAX_BYTES})


def _fitted(letter: DeadLetter) -> bytes:
    """The letter encoded within the dead-letter topic's limit: without the text copy if need
    be, and, for a record beyond any sane size, with its first bytes only (said in `error`)."""
    value = msgspec.json.encode(letter)
    if len(value) <= DEADLETTER_MAX_BYTES:
        return value
    letter = msgspec.structs.replace(letter, value_text=None)
    value = msgspec.json.encode(letter)
    if len(value) <= DEADLETTER_MAX_BYTES:
        return value
    kept = (DEADLETTER_MAX_BYTES - 64 * 1024) // 4 * 3
    raw = base64.b64decode(letter.value_base64)
    return msgspec.json.encode(
        msgspec.structs.replace(
            letter,
            value_base64=base64.b64encode(raw[:kept]).decode(),
            error=f"{letter.error} (record of {len(raw)} bytes; its first {kept} kept)",
        )
    )


def record_time(record: Message) -> datetime | None:
    """The record's time: its producer's (CreateTime) or the broker's (LogAppendTime), as its
    topic keeps them; None when it carries none."""
    timestamp_ms = _timestamp_ms(record)
    return None if timestamp_ms is None else datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def oldest_time(records: list[Message]) -> datetime | None:
    """The earliest of the records' times (`record_time`); None when none carries one."""
    # Compared as Kafka's milliseconds: one datetime per batch, not one per record.
    oldest_ms = min((ms for record in records if (ms := _timestamp_ms(record)) is not None), default=None)
    return None if oldest_ms is None else datetime.fromtimestamp(oldest_ms / 1000, UTC)


def _timestamp_ms(record: Message) -> int | None:
    kind, timestamp_ms = record.timestamp()
    return None if kind == TIMESTAMP_NOT_AVAILABLE or timestamp_ms < 0 else timestamp_ms


def log_fields(record: Message) -> dict[str, Any]:
    """Where a record is, as log fields; with its room (and, in a room topic, where the offset is
    the event's seq, its seq) when it is about one: the inbound topic is keyed by room."""
    fields: dict[str, Any] = {"topic": record.topic(), "partition": record.partition(), "offset": record.offset()}
    if record.topic().startswith(room_topic("")):
        fields |= {"room": room_id_from_topic(record.topic()), "seq": record.offset()}
    elif events.is_room_id(key := _as_text(record.key())):
        fields["room"] = key
    return fields


def dead_letter(record: Message, *, error: str, role: str, stop: Stop | None = None) -> None:
    """Puts a record that cannot be processed on the dead-letter topic, with why, and returns
    once Kafka has it: only then may the consumer commit past the record. Kafka being
    down is waited out, never a reason to drop the record (nor to raise). Raises
    DeadLetterStopped if `stop` (an Event, or a callable saying whether to stop) is set
    before Kafka acknowledged: the role then exits without committing past the record."""
    _, timestamp_ms = record.timestamp()
    raw = record.value() or b""
    letter = DeadLetter(
        error=error[:2000],
        role=role,
        topic=record.topic(),
        partition=record.partition(),
        offset=record.offset(),
        timestamp_ms=timestamp_ms,
        key=_as_text(record.key()),
        value_base64=base64.b64encode(raw).decode(),
        value_text=_as_text(raw),
        dead_lettered_at=datetime.now(UTC).isoformat(),
    )
    # The record's bytes are in the letter, which is what it is for; the log line gets only where
    # the record was and why, with any value the error quotes (a parser quotes what it refused,
    # which may be message text) elided.
    logger.error(
        "dead-lettered %s[%d]@%d (%s): %s",
        record.topic(), record.partition(), record.offset(), role, logs.elided(error),
        extra={**log_fields(record), "consumer": role},
    )  # fmt: skip
    value = _fitted(letter)
    outcome: list[KafkaError | None] = []

    def report(error: KafkaError | None, _message: Message) -> None:
        outcome.append(error)

    while True:
        try:
            _ensure_deadletter_topic(stop)
            producer = _deadletter_producer()
            outcome.clear()
            producer.produce(deadletter_topic(), value=value, key=record.topic().encode(), on_delivery=report)
            # Until the delivery report (message.timeout.ms bounds it), looking for a stop.
            while not outcome:
                producer.flush(min(0.5, DEADLETTER_RETRY_SECONDS))
                if not outcome and _stopped(stop):
                    raise DeadLetterStopped()
            if outcome[0] is None:
                metrics.DEAD_LETTERS.labels(role=role).inc()
                return
            problem: object = outcome[0]
        except KafkaException as exc:
            problem = exc
        except BufferError as exc:  # the producer's queue is full: Kafka is not taking them
            problem = exc
        logger.warning("dead letter not acknowledged yet (%s); retrying", problem)
        _pause(stop, DEADLETTER_RETRY_SECONDS)


_producer: AsyncProducer | None = None
_producer_lock = threading.Lock()


async def enqueue_inbound(*, room_id: str, value: bytes) -> asyncio.Future[Message]:
    """Appends to the inbound topic, keyed by room so that a room's events keep their order;
    the future resolves once Kafka acknowledged (AsyncProducer.enqueue). The producer is made
    off the event loop the first time (making it, and the inbound topic, blocks on the network)."""
    made = _producer if _producer is not None else await asyncio.to_thread(producer)
    return await made.enqueue(topic=inbound_topic(), key=room_id, value=value)


async def send_inbound(*, room_id: str, value: bytes) -> Message:
    """enqueue_inbound, returning once Kafka acknowledged."""
    return await (await enqueue_inbound(room_id=room_id, value=value))


def start_producer_in_background() -> None:
    """Makes the process's producer while it starts, so that its first sends do not wait for it
    (the inbound topic's check, the connection, the idempotent producer's id): on a fresh web,
    every socket's first send waited for them together. A Kafka that does not answer yet leaves
    the making to the first send, as before."""

    def make() -> None:
        try:
            producer()
        except Exception as exc:
            logger.warning("the Kafka producer could not be made at start (%s); the first send will make it", exc)

    threading.Thread(target=make, name="kafka-producer-start", daemon=True).start()


def producer() -> AsyncProducer:
    """The process's one async producer (librdkafka producers are thread-safe and costly)."""
    global _producer
    with _producer_lock:
        if _producer is None:
            ensure_inbound_topic()
            _producer = AsyncProducer()
        return _producer


def delete_namespace_topics() -> None:
    """Delete every topic of this namespace (test runs clean up with it)."""
    admin = _admin()
    prefix = f"{_prefix()}."
    names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()


class Gathering:
    """How long a consumer's next batch waits, after its first record, for more to join it: not at
    all while records come slower than `busy_rate` a second, `linger` seconds while they come
    faster, judged over each `window` seconds of the records taken.

    A batch's fixed costs (a statement, a round trip to Redis, a produce request, a commit) are
    paid per batch, so a consumer that takes a record or two at a time under load pays them for
    every record or two; below the busy rate nobody waits for the gathering. The first batch after
    a busy window ends may still wait `linger`: the rate is judged as batches are taken."""

    def __init__(self, *, busy_rate: float, linger: float, window: float = 1.0, now: float | None = None) -> None:
        self.busy_rate = busy_rate
        self.linger = linger
        self.window = window
        self._window_start = time.monotonic() if now is None else now
        self._taken = 0
        self._busy = False

    def next_linger(self) -> float:
        return self.linger if self._busy else 0.0

    def took(self, records: int, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._taken += records
        elapsed = now - self._window_start
        if elapsed >= self.window:
            self._busy = self._taken / elapsed >= self.busy_rate
            self._window_start, self._taken = now, 0


def next_batch(
    consumer: Consumer, *, max_records: int = 500, timeout: float = 0.5, linger: float = 0.0
) -> list[Message]:
    """Waits up to `timeout` for one record, then takes whatever else is already there, or
    comes within `linger` seconds of it; consumer errors are logged, not returned.

    `Consumer.consume(n, timeout)` waits the whole timeout unless n records arrive,
    which would hold every chat message for it; this returns as soon as one does.
    """
    first = consumer.poll(timeout)
    if first is None:
        return []
    records = []
    for record in [first, *consumer.consume(max_records - 1, linger)]:
        if record.error() is None:
            records.append(record)
        # Until the first room exists, the bridges' pattern matches nothing: not worth a warning.
        elif record.error().code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            logger.warning("consumer error: %s", record.error())
    return records


def commit_done(consumer: Consumer, offsets: list[TopicPartition] | None = None, *, wait: bool = True) -> None:
    """Commits the positions after the last batch, which is done (or `offsets`, the next offset
    of each partition whose records are done); a failure only means the records may be processed
    again, which every consumer here absorbs. `wait=False` returns before Kafka has the commit
    (a failure is then not even logged), so that the next batch need not wait for it."""
    try:
        if offsets is None:
            consumer.commit(asynchronous=not wait)
        else:
            consumer.commit(offsets=offsets, asynchronous=not wait)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._NO_OFFSET:
            logger.warning("offset commit failed (%s); the batch may be processed again", exc)


_probe_lock = threading.Lock()


@functools.cache
def _probe() -> Consumer:
    # Never subscribes, so it never joins the bridges' group; it only asks about offsets.
    return make_consumer(group_id=bridge_group())


def room_offsets(room_id: str) -> tuple[int, int]:
    """(first offset still kept, next offset to be written) of the room's topic."""
    partition = TopicPartition(room_topic(room_id), 0)
    deadline = time.monotonic() + 3
    while True:
        try:
            with _probe_lock:
                return _probe().get_watermark_offsets(partition, timeout=10, cached=False)
        except KafkaException as exc:
            # A topic created (or re-created) a moment ago is unknown until the
            # client's next metadata refresh, a few hundred milliseconds away.
            if exc.args[0].code() != KafkaError._UNKNOWN_PARTITION or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def room_offset_at(room_id: str, timestamp_ms: int) -> int | None:
    """The first offset of the room's topic written at or after `timestamp_ms`; None if none."""
    with _probe_lock:
        (found,) = _probe().offsets_for_times([TopicPartition(room_topic(room_id), 0, timestamp_ms)], timeout=10)
    return None if found.offset < 0 else found.offset


@functools.cache
def _store_probe() -> Consumer:
    return make_consumer(group_id=bridge_store_group())


def _committed(probe: Callable[[], Consumer], room_ids: Iterable[str]) -> dict[str, int | None]:
    """The group's committed position in each room's topic, asked in one call (one round trip
    under the lock, however many rooms); None for a room before the group's first commit."""
    rooms = list(room_ids)
    if not rooms:
        return {}
    with _probe_lock:
        positions = probe().committed([TopicPartition(room_topic(room_id), 0) for room_id in rooms], timeout=10)
    by_topic = {position.topic: position for position in positions}
    answer: dict[str, int | None] = {}
    for room_id in rooms:
        position = by_topic.get(room_topic(room_id))
        answer[room_id] = None if position is None or position.error or position.offset < 0 else position.offset
    return answer


def bridge_position(room_id: str) -> int | None:
    """The next offset the bridges will show live in the room's topic; None before their first commit."""
    return _committed(_probe, [room_id])[room_id]


def bridge_store_position(room_id: str) -> int | None:
    """The next offset the bridges will store in MongoDB from the room's topic; None before their first commit."""
    return _committed(_store_probe, [room_id])[room_id]


def bridge_positions(room_ids: Iterable[str]) -> dict[str, int | None]:
    """`bridge_position` of each room, in one call."""
    return _committed(_probe, room_ids)


def bridge_store_positions(room_ids: Iterable[str]) -> dict[str, int | None]:
    """`bridge_store_position` of each room, in one call."""
    return _committed(_store_probe, room_ids)


def read_room(room_id: str, *, start: int, end: int) -> Iterator[Message]:
    """The records of the room's topic with offsets in [start, end), in order."""
    if start >= end:
        return
    consumer = make_consumer(group_id="echostream-reader", **{"enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(room_topic(room_id), 0, start)])
        while True:
            record = consumer.poll(10)
            if record is None:
                raise KafkaException(f"timed out reading {room_topic(room_id)} at offset {start}")
            if record.error():
                if record.error().code() == KafkaError._PARTITION_EOF:
                    return
                raise KafkaException(record.error())
            if record.offset() >= end:
                return
            yield record
            start = record.offset() + 1
            if start >= end:
                return
    finally:
        consumer.close()


def room_topics() -> list[str]:
    """The ids of every room that has a topic in this namespace."""
    prefix = room_topic("")
    return sorted(
        name.removeprefix(prefix) for name in _admin().list_topics(timeout=10).topics if name.startswith(prefix)
    )


def ping_once(*, timeout: float) -> None:
    """Returns once a broker answers a metadata request within `timeout` seconds, on a client of
    its own (a probe must not queue behind the process's own clients); raises otherwise."""
    config = {
        **_base_config(),
        "socket.connection.setup.timeout.ms": max(int(timeout * 1000), 1000),
        # Its failure is the exception raised here; librdkafka's own log would repeat a connection
        # error to stderr every few milliseconds until the timeout.
        "log_level": 0,
    }
    probe = AdminClient(config)
    metadata = probe.list_topics(timeout=timeout)
    if not metadata.brokers:
        raise KafkaException(f"no broker answered at {settings.KAFKA_BOOTSTRAP_SERVERS}")


class GroupLag(msgspec.Struct, frozen=True, kw_only=True):
    """How far one consumer group is behind the topics it reads."""

    group: str
    role: str
    # Records written to the group's topics that the group has not yet committed as done.
    lag: int
    partitions: int
    # Partitions holding records the group has never committed in (counted from their start).
    uncommitted: int


def _groups() -> list[tuple[str, str]]:
    """(group, role) of every consumer group EchoStream runs."""
    return [(moderation_group(), "moderation"), (bridge_group(), "bridge"), (bridge_store_group(), "bridge-store")]


def _group_topics() -> list[tuple[str, str, list[str]]]:
    """(group, role, topics) of every consumer group EchoStream runs."""
    rooms = [room_topic(room_id) for room_id in room_topics()]
    return [(group, role, [inbound_topic()] if group == moderation_group() else rooms) for group, role in _groups()]


def consumer_group_lags(*, timeout: float = 10) -> list[GroupLag]:
    """The lag of each of EchoStream's consumer groups, in a few admin round trips however many
    rooms there are: the groups' committed offsets against each partition's first and next offsets."""
    admin = _admin()
    groups = _group_topics()
    partitions: set[TopicPartition] = set()
    metadata = admin.list_topics(timeout=timeout)
    wanted = {topic for _, _, topics in groups for topic in topics}
    for name, topic in metadata.topics.items():
        if name in wanted and topic.error is None:
            partitions.update(TopicPartition(name, number) for number in topic.partitions)
    ends = _offsets(admin, partitions, OffsetSpec.latest(), timeout)
    starts = _offsets(admin, partitions, OffsetSpec.earliest(), timeout)
    answer = []
    for group, role, topics in groups:
        mine = [partition for partition in partitions if partition.topic in topics]
        committed = _group_committed(admin, group, timeout)
        lag = uncommitted = 0
        for partition in mine:
            key = (partition.topic, partition.partition)
            end, start = ends.get(key, 0), starts.get(key, 0)
            done = committed.get(key)
            if done is None:
                uncommitted += end > start
                lag += end - start
            else:
                lag += max(end - max(done, start), 0)
        answer.append(GroupLag(group=group, role=role, lag=lag, partitions=len(mine), uncommitted=uncommitted))
    return answer


def _offsets(
    admin: AdminClient, partitions: set[TopicPartition], spec: OffsetSpec, timeout: float
) -> dict[tuple[str, int], int]:
    if not partitions:
        return {}
    futures = admin.list_offsets(
        {TopicPartition(p.topic, p.partition): spec for p in partitions}, request_timeout=timeout
    )
    return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}


def _group_committed(admin: AdminClient, group: str, timeout: float) -> dict[tuple[str, int], int]:
    (future,) = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
    ).values()
    try:
        result = future.result()
    except KafkaException as exc:
        if exc.args[0].code() in (KafkaError.GROUP_ID_NOT_FOUND, KafkaError.COORDINATOR_NOT_AVAILABLE):
            return {}
        raise
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in result.topic_partitions or []
        if tp.error is None and tp.offset >= 0
    }


def topic_partition_counts(*, timeout: float = 10) -> dict[str, int]:
    """Every topic of this namespace and its number of partitions, from one metadata request.
    A topic whose leader is being elected (just created, a broker restarting) is listed too: it exists."""
    prefix = f"{_prefix()}."
    return {
        name: len(topic.partitions)
        for name, topic in _admin().list_topics(timeout=timeout).topics.items()
        if name.startswith(prefix)
    }


# Topics whose configs are asked in one DescribeConfigs request: a caller showing progress
# sees it move every batch, and no single request grows with the number of rooms.
TOPIC_CONFIG_BATCH = 200


def topic_configs(
    topics: Iterable[str], *, keys: Iterable[str], timeout: float = 10
) -> Iterator[tuple[str, dict[str, str]]]:
    """(topic, {key: value}) for each topic, the `keys` of its effective config (set on the topic
    or inherited from the broker), in batches. Raises KafkaException for a topic that is gone."""
    wanted = set(keys)
    names = list(topics)
    for start in range(0, len(names), TOPIC_CONFIG_BATCH):
        batch = names[start : start + TOPIC_CONFIG_BATCH]
        resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in batch]
        futures = _admin().describe_configs(resources, request_timeout=timeout)
        for resource, future in futures.items():
            entries = future.result()
            yield resource.name, {key: entry.value for key, entry in entries.items() if key in wanted}


class GroupMembers(msgspec.Struct, frozen=True, kw_only=True):
    """Who is in one consumer group now: the copies of its role that are running."""

    group: str
    members: int
    # The coordinator's word: "STABLE", "EMPTY" (no member, offsets kept), "DEAD" (unknown
    # group), "PREPARING_REBALANCE", ...
    state: str


def consumer_group_members(*, timeout: float = 10) -> list[GroupMembers]:
    """The members of each of EchoStream's consumer groups (the same groups, in the same order,
    as `consumer_group_lags`)."""
    groups = [group for group, _ in _groups()]
    futures = _admin().describe_consumer_groups(groups, request_timeout=timeout)
    answer = []
    for group in groups:
        try:
            description = futures[group].result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise
            answer.append(GroupMembers(group=group, members=0, state="DEAD"))
            continue
        answer.append(GroupMembers(group=group, members=len(description.members or []), state=description.state.name))
    return answer
