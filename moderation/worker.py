"""The moderation role: `echostream.inbound` -> checks -> the room's topic.

Each batch is published and acknowledged by Kafka before its offsets are
committed; if publishing fails, the same batch is processed again (the message
ids make the repeat harmless downstream).
"""

from __future__ import annotations

import logging
import threading
import time

from asgiref.sync import async_to_sync
from django.conf import settings

from echostream.core import events, groups, kafka
from moderation import services

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


def _decode_submission(record: kafka.Message) -> events.MessageSubmitted | None:
    try:
        event = events.decode(record.value() or b"")
    except events.InvalidEvent as exc:
        logger.warning("skipped malformed record %s@%d: %s", record.topic(), record.offset(), exc)
        return None
    if not isinstance(event, events.MessageSubmitted):
        logger.warning("skipped %s on the inbound topic at %d", type(event).__name__, record.offset())
        return None
    return event


def _publish(producer: kafka.Producer, submissions: list[events.MessageSubmitted]) -> list[dict[str, object]]:
    """Publish accepted submissions; returns the rejection frames to send. Raises if Kafka refused any."""
    failures: list[kafka.KafkaError] = []
    rejections: list[dict[str, object]] = []

    def on_delivery(error: kafka.KafkaError | None, _message: kafka.Message) -> None:
        if error is not None:
            failures.append(error)

    for submission in submissions:
        refusal = services.check_submission(submission=submission)
        if refusal is not None:
            rejections.append(
                {"user": submission.actor, "frame": services.rejection_frame(submission=submission, refusal=refusal)}
            )
            continue
        created = services.accepted(submission=submission)
        producer.produce(
            kafka.room_topic(created.room),
            key=created.room.encode(),
            value=events.encode(created),
            on_delivery=on_delivery,
        )
        producer.poll(0)
    remaining = producer.flush(30)
    if failures or remaining:
        raise kafka.KafkaException(failures[0] if failures else f"{remaining} records not delivered")
    return rejections


def run(stop: threading.Event) -> None:
    kafka.ensure_inbound_topic()
    producer = kafka.make_sync_producer()
    consumer = kafka.make_consumer(group_id=f"{settings.ECHOSTREAM_NAMESPACE}.moderation")
    consumer.subscribe([kafka.inbound_topic()])
    logger.info("moderation consuming %s", kafka.inbound_topic())
    try:
        while not stop.is_set():
            batch = kafka.next_batch(consumer)
            records = [record for record in batch if not record.error()]
            for record in batch:
                if record.error():
                    logger.warning("consumer error: %s", record.error())
            if not records:
                continue
            submissions = [event for event in map(_decode_submission, records) if event is not None]
            while True:
                try:
                    rejections = _publish(producer, submissions)
                    break
                except kafka.KafkaException as exc:
                    logger.warning("publishing a batch failed (%s); retrying it", exc)
                    time.sleep(RETRY_SECONDS)
            for rejection in rejections:
                async_to_sync(groups.send_to_user)(rejection["user"], rejection["frame"])
            try:
                consumer.commit(asynchronous=False)
            except kafka.KafkaException as exc:
                logger.warning("offset commit failed (%s); the batch may be processed again", exc)
    finally:
        consumer.close()
        producer.flush(10)
