"""Rooms coming while others talk: Kafka's classic group protocol (cooperative-sticky, what the
bridges run) against the consumer protocol of KIP-848, on the running Kafka. Needs `make services`.

Two measurements per protocol, each with a consumer group of its own:
- a new room's first record: a topic created, one record produced, the time until the
  consumer (subscribed as the bridge is, by pattern; or, for KIP-848, also by explicit names,
  re-subscribed per new topic) has it;
- the other rooms meanwhile: 20 topics each get a record every 20 ms while a topic is created
  every second; the latency of their records (p50, p99, max).

Run: `.venv/bin/python bench/kip848.py [--bootstrap 127.0.0.1:9092] [--topics 8] [--seconds 20]`.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

CLASSIC = {
    "partition.assignment.strategy": "cooperative-sticky",
    "session.timeout.ms": 10000,
    "heartbeat.interval.ms": 1000,
}
KIP848 = {"group.protocol": "consumer"}


class Subscriber:
    def __init__(self, bootstrap: str, prefix: str, protocol: dict[str, Any], *, by_name: bool) -> None:
        self.prefix, self.by_name = prefix, by_name
        self.topics: list[str] = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": prefix,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 300,
                "fetch.wait.max.ms": 50,
                **protocol,
            }
        )
        if not by_name:
            self.consumer.subscribe([f"^{prefix.replace('.', '[.]')}[.]room[.].*"])

    def add(self, topic: str) -> None:
        self.topics.append(topic)
        if self.by_name:
            self.consumer.subscribe(list(self.topics))


def make_topics(admin: AdminClient, names: list[str]) -> None:
    for future in admin.create_topics([NewTopic(name, 1, 1) for name in names]).values():
        future.result()


def first_records(bootstrap: str, protocol: dict[str, Any], *, by_name: bool, topics: int) -> list[float]:
    prefix = f"kip848-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    subscriber = Subscriber(bootstrap, prefix, protocol, by_name=by_name)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    waits = []
    for n in range(topics):
        topic = f"{prefix}.room.r{n}"
        make_topics(admin, [topic])
        started = time.monotonic()
        subscriber.add(topic)
        producer.produce(topic, b"first")
        producer.flush()
        while True:
            record = subscriber.consumer.poll(0.05)
            if record is not None and not record.error() and record.topic() == topic:
                break
        waits.append(time.monotonic() - started)
    subscriber.consumer.close()
    admin.delete_topics(subscriber.topics)
    return waits


def others_meanwhile(bootstrap: str, protocol: dict[str, Any], *, by_name: bool, seconds: float) -> list[float]:
    prefix = f"kip848-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    talking = [f"{prefix}.room.talk{n}" for n in range(20)]
    make_topics(admin, talking)
    subscriber = Subscriber(bootstrap, prefix, protocol, by_name=by_name)
    for topic in talking:
        subscriber.add(topic)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    settle = time.monotonic() + 8
    while time.monotonic() < settle:
        subscriber.consumer.poll(0.1)
    stop = threading.Event()

    def talk() -> None:
        while not stop.is_set():
            for topic in talking:
                producer.produce(topic, repr(time.time()).encode())
            producer.poll(0)
            time.sleep(0.02)
        producer.flush()

    talker = threading.Thread(target=talk)
    talker.start()
    latencies, created, next_room = [], 0, time.monotonic()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        record = subscriber.consumer.poll(0.05)
        if record is not None and not record.error() and ".talk" in record.topic():
            latencies.append(time.time() - float(record.value()))
        if time.monotonic() >= next_room:
            topic = f"{prefix}.room.new{created}"
            make_topics(admin, [topic])
            subscriber.add(topic)
            created, next_room = created + 1, next_room + 1.0
    stop.set()
    talker.join()
    subscriber.consumer.close()
    admin.delete_topics(subscriber.topics)
    return sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topics", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    for name, protocol, by_name in (
        ("classic, cooperative-sticky, regex", CLASSIC, False),
        ("consumer (KIP-848), regex", KIP848, False),
        ("consumer (KIP-848), explicit names", KIP848, True),
    ):
        waits = first_records(args.bootstrap, protocol, by_name=by_name, topics=args.topics)
        others = others_meanwhile(args.bootstrap, protocol, by_name=by_name, seconds=args.seconds)
        p99 = others[int(len(others) * 0.99)]
        print(
            f"{name:<38} new room's first record: {min(waits):.2f}-{max(waits):.2f} s "
            f"(median {statistics.median(waits):.2f}); other rooms meanwhile: "
            f"p50 {statistics.median(others) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {others[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
