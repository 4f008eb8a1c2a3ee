"""The dead-letter topic, against the real Kafka: a record no consumer can process is kept there with why."""

import base64
import threading
import time
import uuid

import msgspec
import pytest

from echostream.core import kafka

pytestmark = pytest.mark.usefixtures("services")


def _one_record(topic: str, group: str) -> kafka.Message:
    """The first record of `topic`."""
    consumer = kafka.make_consumer(group_id=group)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = consumer.poll(1)
            if record is not None and record.error() is None:
                return record
        raise AssertionError(f"nothing arrived on {topic}")
    finally:
        consumer.close()


def _letter_about(topic: str) -> dict:
    """The dead letter of the record from `topic` (other tests dead-letter records too)."""
    consumer = kafka.make_consumer(group_id=f"reader-{uuid.uuid4().hex}")
    try:
        consumer.subscribe([kafka.deadletter_topic()])
        idle = 0
        while idle < 30:
            record = consumer.poll(1)
            if record is None or record.error() is not None:
                idle += 1
                continue
            idle = 0
            letter = msgspec.json.decode(record.value())
            if letter["topic"] == topic:
                return letter
        raise AssertionError(f"no dead letter about {topic}")
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

    letter = _letter_about(topic)
    assert (letter["topic"], letter["partition"], letter["offset"]) == (topic, 0, record.offset())
    assert (letter["error"], letter["role"], letter["key"]) == ("not JSON", "test", "room-1")
    assert base64.b64decode(letter["value_base64"]) == poison
    assert letter["value_text"] is None


def test_the_log_line_of_a_dead_letter_says_where_and_why_but_not_what_the_record_holds(caplog):
    topic = f"{kafka.inbound_topic()}-dlq-log-{uuid.uuid4().hex[:6]}"
    text = f"a message's text {uuid.uuid4().hex}"
    record = kafka.Message(
        topic=topic, partition=0, offset=7, key=b"room-1", value=text.encode(), timestamp=(1, 1_700_000_000_000)
    )
    # As msgspec words it: the value it refused, quoted.
    error = f"InvalidEvent: Invalid value '{text}' - at `$.type`"

    with caplog.at_level("ERROR", logger="echostream.core.kafka"):
        kafka.dead_letter(record, error=error, role="test")

    [line] = [entry for entry in caplog.records if entry.getMessage().startswith("dead-lettered")]
    assert text not in line.getMessage()
    assert line.getMessage() == f"dead-lettered {topic}[0]@7 (test): InvalidEvent: Invalid value '…' - at `$.type`"
    assert (line.topic, line.partition, line.offset, line.room, line.consumer) == (topic, 0, 7, "room-1", "test")
    # The letter keeps what the log line leaves out.
    assert _letter_about(topic)["error"] == error


def test_a_record_as_large_as_the_broker_takes_is_dead_lettered_whole():
    topic = f"{kafka.inbound_topic()}-dlq-large-{uuid.uuid4().hex[:6]}"
    producer = kafka.make_sync_producer()
    # JSON text escapes each control character into six bytes: the letter is far larger than the record.
    large = b"\x01" * 900_000
    producer.produce(topic, value=large, key=b"room-1")
    assert producer.flush(30) == 0
    record = _one_record(topic, f"probe-{uuid.uuid4().hex}")

    kafka.dead_letter(record, error="too deep", role="test")

    letter = _letter_about(topic)
    assert base64.b64decode(letter["value_base64"]) == large


def _retries(caplog: pytest.LogCaptureFixture) -> int:
    return sum("dead letter not acknowledged yet" in r.getMessage() for r in caplog.records)


def test_while_kafka_is_down_a_dead_letter_waits_and_a_stop_ends_the_wait(kafka_unreachable, caplog, monkeypatch):
    monkeypatch.setattr(kafka, "DEADLETTER_RETRY_SECONDS", 0.1, raising=False)
    monkeypatch.setattr(kafka, "DEADLETTER_REQUEST_SECONDS", 1.0, raising=False)
    record = kafka.Message(topic="probe", partition=0, offset=3, value=b"x", timestamp=(1, 1_700_000_000_000))
    stop, raised = threading.Event(), []

    def letter() -> None:
        try:
            kafka.dead_letter(record, error="unreadable", role="test", stop=stop)
        except BaseException as exc:
            raised.append(exc)

    writer = threading.Thread(target=letter, daemon=True)
    writer.start()
    # Kafka unreachable: creating the dead-letter topic fails, again and again, and is retried
    # (it used to raise KafkaException out of the caller, which stopped the role).
    deadline = time.monotonic() + 240
    while _retries(caplog) < 2 and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert raised == []
    assert _retries(caplog) >= 2
    # Told to stop meanwhile: it ends, saying the record was not dead-lettered.
    stop.set()
    writer.join(120)
    assert not writer.is_alive()
    assert [type(exc) for exc in raised] == [kafka.DeadLetterStopped]


def test_a_dead_letter_takes_a_callable_as_its_stop(kafka_unreachable):
    record = kafka.Message(topic="probe", partition=0, offset=4, value=b"x", timestamp=(1, 1_700_000_000_000))
    with pytest.raises(kafka.DeadLetterStopped):
        kafka.dead_letter(record, error="unreadable", role="test", stop=lambda: True)
