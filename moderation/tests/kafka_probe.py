"""Helpers for the worker's tests: inbound-like records, and read-backs of the real topics."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import msgspec

from echostream.core import kafka

_offsets = itertools.count()


def record(value: bytes | None, *, topic: str | None = None) -> kafka.Message:
    """A record as the consumer hands it over, made now (its CreateTime), on a topic of its own
    so that its dead letter is found again."""
    return kafka.Message(
        topic=topic or f"{kafka.inbound_topic()}-probe-{uuid.uuid4().hex[:8]}",
        partition=0,
        offset=next(_offsets),
        key=b"room",
        value=value,
        timestamp=(kafka.TIMESTAMP_CREATE_TIME, int(time.time() * 1000)),
    )


def _read_all(topic: str) -> list[kafka.Message]:
    consumer = kafka.make_consumer(group_id=f"probe-{uuid.uuid4().hex}", **{"enable.partition.eof": True})
    try:
        try:
            low, high = consumer.get_watermark_offsets(kafka.TopicPartition(topic, 0), timeout=10)
        except kafka.KafkaException as exc:
            if exc.args[0].code() != kafka.KafkaError._UNKNOWN_PARTITION:
                raise
            return []  # no such topic yet: nothing was ever written to it
        if low >= high:
            return []
        consumer.assign([kafka.TopicPartition(topic, 0, low)])
        found: list[kafka.Message] = []
        while not found or found[-1].offset() < high - 1:
            message = consumer.poll(10)
            if message is None:
                raise AssertionError(f"timed out reading {topic}")
            if message.error() is None:
                found.append(message)
        return found
    finally:
        consumer.close()


def dead_letters(topic: str) -> list[dict[str, Any]]:
    """The dead letters of records that came from `topic`."""
    letters = [msgspec.json.decode(message.value()) for message in _read_all(kafka.deadletter_topic())]
    return [letter for letter in letters if letter["topic"] == topic]


def room_values(room_id: str) -> list[bytes]:
    return [message.value() for message in _read_all(kafka.room_topic(room_id))]
