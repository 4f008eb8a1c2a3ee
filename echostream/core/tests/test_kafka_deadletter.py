"""The dead-letter topic, against the real Kafka: a record no consumer can process is kept there with why."""

import base64
import time
import uuid

import msgspec
import pytest

from echostream.core import kafka

pytestmark = pytest.mark.usefixtures("services")


def _one_record(topic: str, group: str, *, key: bytes | None = None) -> kafka.Message:
    """The first record of `topic` (with `key`, when given: other tests of the run dead-letter too)."""
    consumer = kafka.make_consumer(group_id=group)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = consumer.poll(1)
            if record is not None and record.error() is None and key in (None, record.key()):
                return record
        raise AssertionError(f"nothing arrived on {topic}")
    finally:
        consumer.close()


def test_a_dead_lettered_record_keeps_its_bytes_its_place_and_the_error():
    topic = f"{kafka.inbound_topic()}-dlq-probe-{uuid.uuid4().hex[:6]}"
    producer = kafka.make_sync_producer()
    poison = b"\xff\xfe not an event"
    producer.produce(topic, value=poison, key=b"room-1")
    assert producer.flush(30) == 0
    record = _one_record(topic, f"probe-{uuid.uuid4().hex}")

    kafka.dead_letter(record, error="not JSON", role="test")

    letter = msgspec.json.decode(
        _one_record(kafka.deadletter_topic(), f"reader-{uuid.uuid4().hex}", key=topic.encode()).value()
    )
    assert (letter["topic"], letter["partition"], letter["offset"]) == (topic, 0, record.offset())
    assert (letter["error"], letter["role"], letter["key"]) == ("not JSON", "test", "room-1")
    assert base64.b64decode(letter["value_base64"]) == poison
    assert letter["value_text"] is None
