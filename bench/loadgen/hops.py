"""Where a step's copies spent their time, hop by hop, under load.

Each Kafka record's timestamp is the broker's, taken as it appends the record (the topics keep
LogAppendTime; before the twelfth round of issue 11, when its producer was handed it, about a
linger and a round trip earlier), so the inbound record's says when Kafka had the web's send,
and the room record's when it had moderation's verdict.
Joined with the client's own clock (send and arrival of each copy), a copy's time splits in three:
the web (frame written to inbound record), moderation (inbound record to the room's record), and
the bridge and the web (the room's record to the member's socket reading the copy). Kafka's
timestamps are whole milliseconds, so each hop is known to about a millisecond."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.test import override_settings

from bench.loadgen.clients import Step
from bench.loadgen.plan import Message
from bench.loadgen.stats import percentile
from echostream.core import events, kafka

HOPS = ("web", "moderation", "bridge and web")
# Reading stops once the namespace's topics gave nothing for this long.
QUIET_SECONDS = 2.0


def record_times(namespace: str) -> tuple[dict[str, int], dict[str, int]]:
    """(inbound, room): the timestamp (ms) of the first record of each client_id in the inbound
    topic and in the room topics of the servers run under `namespace`."""
    with override_settings(ECHOSTREAM_NAMESPACE=namespace):
        inbound_topic, room_prefix = kafka.inbound_topic(), kafka.room_topic("")
        consumer = kafka.make_consumer(group_id=f"{namespace}.hops")
    try:
        topics = consumer.list_topics(timeout=10).topics
        partitions = [
            kafka.TopicPartition(name, number, 0)
            for name, topic in topics.items()
            if name == inbound_topic or name.startswith(room_prefix)
            for number in topic.partitions
        ]
        consumer.assign(partitions)
        inbound: dict[str, int] = {}
        room: dict[str, int] = {}
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET_SECONDS:
            records = consumer.consume(1000, 0.5)
            if records:
                quiet_since = time.monotonic()
            for record in records:
                if record.error() is not None:
                    continue
                client_id = _client_id(record.value())
                if client_id is not None:
                    into = inbound if record.topic() == inbound_topic else room
                    into.setdefault(client_id, record.timestamp()[1])
        return inbound, room
    finally:
        consumer.close()


def _client_id(value: bytes | None) -> str | None:
    try:
        event = events.decode(value or b"")
    except events.InvalidEvent:
        return None
    return getattr(event.data, "client_id", None)


def split(*, sent_ms: float, inbound_ms: float, room_ms: float, arrived_ms: float) -> list[tuple[str, float]]:
    """One copy's time in each of `HOPS` (ms), all four moments on the wall clock."""
    return list(zip(HOPS, (inbound_ms - sent_ms, room_ms - inbound_ms, arrived_ms - room_ms), strict=True))


def breakdown(
    step: Step,
    *,
    client_id: Callable[[Message], str],
    inbound: dict[str, int],
    room: dict[str, int],
    wall_minus_perf: float,
) -> dict[str, dict[str, float]]:
    """p50, p95 and p99 (ms) of each hop over the step's copies whose two records were found.
    `client_id(message)` names a message as its frame did; `wall_minus_perf` turns the client's
    perf_counter() into the wall clock Kafka's timestamps are on."""
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for message in step.messages:
        name = client_id(message)
        if message.sent_at is None or name not in inbound or name not in room:
            continue
        sent = (message.sent_at + wall_minus_perf) * 1000
        for arrived_at in message.arrivals.values():
            arrived = (arrived_at + wall_minus_perf) * 1000
            for hop, took in split(sent_ms=sent, inbound_ms=inbound[name], room_ms=room[name], arrived_ms=arrived):
                hops[hop].append(took)
    for times in hops.values():
        times.sort()
    return {
        hop: {f"p{p}_ms": round(percentile(times, p), 1) for p in (50, 95, 99)} | {"copies": len(times)}
        for hop, times in hops.items()
    }
