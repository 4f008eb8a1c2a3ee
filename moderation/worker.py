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

from echostream.core import events, groups, kafka
from moderation import services

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


def _decode_inbound(record: kafka.Message) -> services.Inbound | None:
    try:
        event = events.decode(record.value() or b"")
    except events.InvalidEvent as exc:
        logger.warning("skipped malformed record %s@%d: %s", record.topic(), record.offset(), exc)
        return None
    if not isinstance(event, services.Inbound):
        logger.warning("skipped %s on the inbound topic at %d", type(event).__name__, record.offset())
        return None
    return event


def _publish(producer: kafka.Producer, inbound: list[services.Inbound]) -> list[dict[str, object]]:
    """Publish the accepted events; returns the rejections to send. Raises if Kafka refused any."""
    failures: list[kafka.KafkaError] = []
    rejections: list[dict[str, object]] = []

    def on_delivery(error: kafka.KafkaError | None, _message: kafka.Message) -> None:
        if error is not None:
            failures.append(error)

    for event in inbound:
        refusal = services.check_inbound(event=event)
        if refusal is not None:
            rejections.append({"user": event.actor, "frame": services.rejection_frame(event=event, refusal=refusal)})
            continue
        room_event = services.accepted(event=event)
        producer.produce(
            kafka.room_topic(room_event.room),
            key=room_event.room.encode(),
            value=events.encode(room_event),
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
    consumer = kafka.make_consumer(group_id=kafka.moderation_group())
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
            inbound = [event for event in map(_decode_inbound, records) if event is not None]
            while True:
                try:
                    rejections = _publish(producer, inbound)
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
