"""`kafka.next_batch`, against the real Kafka: what one batch of a consumer holds."""

import threading
import uuid

import pytest

from echostream.core import kafka

pytestmark = pytest.mark.usefixtures("services")


def _topic_with_a_record_now_and_one_in(seconds: float) -> tuple[kafka.Consumer, threading.Timer]:
    """A consumer at the start of a new topic holding one record, and the timer that will add a second."""
    room_id = uuid.uuid4().hex
    kafka.ensure_room_topic(room_id)
    topic = kafka.room_topic(room_id)
    producer = kafka.make_sync_producer()
    producer.produce(topic, b"first")
    producer.flush(10)

    def second() -> None:
        producer.produce(topic, b"second")
        producer.flush(10)

    consumer = kafka.make_consumer(group_id=f"batches-{uuid.uuid4().hex}")
    consumer.assign([kafka.TopicPartition(topic, 0, 0)])
    return consumer, threading.Timer(seconds, second)


def test_a_batch_without_a_linger_does_not_wait_for_a_record_that_comes_after_its_first():
    consumer, later = _topic_with_a_record_now_and_one_in(0.5)
    later.start()
    try:
        first = kafka.next_batch(consumer, timeout=30)
        assert [record.value() for record in first] == [b"first"]
    finally:
        later.join()
        consumer.close()


def test_a_batch_with_a_linger_takes_what_comes_within_it_after_its_first():
    consumer, later = _topic_with_a_record_now_and_one_in(0.5)
    later.start()
    try:
        batch = kafka.next_batch(consumer, timeout=30, linger=3)
        assert [record.value() for record in batch] == [b"first", b"second"]
    finally:
        later.join()
        consumer.close()
