"""Message latency, measured against a baseline in the same run.

Starts the three roles from the Procfile (needs `make services`), then measures:
- first message in a brand-new room: send -> the other member's `message.new`;
- steady state: send -> `message.new` for back-to-back messages in one room;
- the baseline: one raw Kafka produce -> consume round trip on a fresh topic, which is the floor
  under any message's path (the path makes two such hops, plus MongoDB and Redis);
- where the steady messages spent their time, hop by hop: each Kafka record's timestamp is the
  broker's, as it appends the record, so the inbound record's says when Kafka had the web's send,
  and the room record's when it had moderation's verdict. The three hops add up to the whole.

Run: `make bench` or `.venv/bin/python bench/message_latency.py [--messages N] [--rooms N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
os.environ.setdefault("RATE_LIMIT_BURST", "100000")
# `--rooms` may ask for more new groups than a person makes in an hour.
os.environ.setdefault("THROTTLE_CREATE_GROUP_PER_USER", "100000/h")
os.environ.setdefault("THROTTLE_CREATE_GROUP_PER_IP", "100000/h")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from bench.loadgen import hops as loadgen_hops  # noqa: E402
from echostream.core import kafka  # noqa: E402
from tests.system.client import ChatClient  # noqa: E402
from tests.system.stack import Stack  # noqa: E402


def kafka_round_trip_ms(samples: int) -> list[float]:
    topic = kafka.room_topic(f"baseline{uuid.uuid4().hex[:6]}")
    kafka_producer = kafka.make_sync_producer()
    consumer = kafka.make_consumer(group_id=f"bench-{uuid.uuid4().hex}")
    consumer.assign([kafka.TopicPartition(topic, 0, 0)])
    kafka_producer.produce(topic, b"warm-up")
    kafka_producer.flush(10)
    while consumer.poll(1) is None:
        pass
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        kafka_producer.produce(topic, b"x")
        kafka_producer.flush(10)
        record = None
        while record is None or record.error():
            record = consumer.poll(5)
        timings.append((time.perf_counter() - started) * 1000)
    consumer.close()
    return timings


async def two_people(base_url: str) -> tuple[ChatClient, ChatClient]:
    alice, bob = ChatClient(base_url), ChatClient(base_url)
    await alice.signup(f"alice{uuid.uuid4().hex[:6]}")
    await bob.signup(f"bob{uuid.uuid4().hex[:6]}")
    await alice.connect()
    await bob.connect()
    return alice, bob


async def first_message_ms(base_url: str, rooms: int) -> list[float]:
    alice, bob = await two_people(base_url)
    timings = []
    for n in range(rooms):
        room = await alice.create_group(f"new room {n}", [bob.username])
        started = time.perf_counter()
        await alice.send_message(room["id"], "first!")
        await bob.next_frame("message.new", timeout=30)
        timings.append((time.perf_counter() - started) * 1000)
    await alice.close()
    await bob.close()
    return timings


@dataclass
class Steady:
    timings: list[float]
    # client_id -> (sent, received), wall clock seconds: Kafka's timestamps are wall clock too.
    moments: dict[str, tuple[float, float]]


async def steady(base_url: str, messages: int) -> Steady:
    alice, bob = await two_people(base_url)
    room = await alice.open_dm(bob.username)
    await alice.send_message(room["id"], "warm-up")
    await bob.next_frame("message.new", timeout=30)
    timings = []
    moments = {}
    for n in range(messages):
        started, sent = time.perf_counter(), time.time()
        client_id = await alice.send_message(room["id"], f"m{n}")
        await bob.next_frame("message.new", timeout=30)
        timings.append((time.perf_counter() - started) * 1000)
        moments[client_id] = (sent, time.time())
    await alice.close()
    await bob.close()
    return Steady(timings=timings, moments=moments)


def hops(run: Steady) -> dict[str, list[float]]:
    inbound, room = loadgen_hops.record_times(settings.ECHOSTREAM_NAMESPACE)
    by_hop: dict[str, list[float]] = {hop: [] for hop in loadgen_hops.HOPS}
    for client_id, (sent, received) in run.moments.items():
        copy = loadgen_hops.split(
            sent_ms=sent * 1000, inbound_ms=inbound[client_id], room_ms=room[client_id], arrived_ms=received * 1000
        )
        for hop, took in copy:
            by_hop[hop].append(took)
    return by_hop


def summary(name: str, timings: list[float], baseline: float) -> str:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"{name:<28} n={len(ordered):<4} p50={p50:7.1f} ms  p95={p95:7.1f} ms  "
        f"max={ordered[-1]:7.1f} ms  p50/baseline={p50 / baseline:5.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=10)
    args = parser.parse_args()

    stack = Stack(Path(tempfile.mkdtemp(prefix="echostream-bench-")))
    stack.migrate()
    for role in ("web", "moderation", "bridge"):
        stack.start(role)
    try:
        stack.wait_ready()
        baseline = kafka_round_trip_ms(args.messages)
        first = asyncio.run(first_message_ms(stack.base_url, args.rooms))
        steady_run = asyncio.run(steady(stack.base_url, args.messages))
        steady_hops = hops(steady_run)
    finally:
        stack.stop()
    base = statistics.median(baseline)
    print(summary("kafka round trip (baseline)", baseline, base))
    print(summary("first message in a new room", first, base))
    print(summary("steady send -> message.new", steady_run.timings, base))
    print("where the steady messages' time went (p50 / p99 ms):")
    for name, label in (
        ("web", "web: frame in -> inbound record"),
        ("moderation", "moderation: inbound -> room record"),
        ("bridge and web", "bridge, web: room record -> frame out"),
    ):
        ordered = sorted(steady_hops[name])
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"  {label:<40} {statistics.median(ordered):6.1f} / {p99:6.1f}")


if __name__ == "__main__":
    main()
