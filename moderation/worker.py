"""The moderation role: `echostream.inbound` -> checks -> the room's topic.

Each batch is published and acknowledged by Kafka before its offsets are
committed; what Kafka refused is published again until it is acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from asgiref.sync import async_to_sync
from django.db import DatabaseError

from echostream.core import events, groups, kafka
from echostream.core.redis import RedisError
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


def _verdicts(inbound: list[services.Inbound]) -> tuple[list[events.RoomEvent], list[dict[str, object]]]:
    """The room events to publish, and the rejections to send."""
    accepted: list[events.RoomEvent] = []
    rejections: list[dict[str, object]] = []
    for event in inbound:
        refusal = services.check_inbound(event=event)
        if refusal is None:
            accepted.append(services.accepted(event=event))
        else:
            rejections.append({"user": event.actor, "frame": services.rejection_frame(event=event, refusal=refusal)})
    return accepted, rejections


def _publish(producer: kafka.Producer, room_events: list[events.RoomEvent]) -> list[events.RoomEvent]:
    """Publishes the events and waits for Kafka; returns what must go again: everything
    from the first event it did not acknowledge on, so that a room's order holds (a
    repeat of an acknowledged event is harmless: the projector knows it)."""
    undelivered: list[int] = []

    def reporter(index: int) -> Callable[[kafka.KafkaError | None, kafka.Message], None]:
        def report(error: kafka.KafkaError | None, _message: kafka.Message) -> None:
            if error is not None:
                logger.warning("event %s not published: %s", room_events[index].id, error)
                undelivered.append(index)

        return report

    for index, room_event in enumerate(room_events):
        producer.produce(
            kafka.room_topic(room_event.room),
            key=room_event.room.encode(),
            value=events.encode(room_event),
            on_delivery=reporter(index),
        )
        producer.poll(0)
    producer.flush()
    return room_events[min(undelivered) :] if undelivered else []


def _handle(producer: kafka.Producer, inbound: list[services.Inbound]) -> None:
    """Checks and publishes one batch; returns only when all of it is done."""
    while True:
        try:
            accepted, rejections = _verdicts(inbound)
            break
        except DatabaseError as exc:  # e.g. SQLite busy: the batch waits, nothing is skipped
            logger.warning("checking a batch failed (%s); retrying it", exc)
            time.sleep(RETRY_SECONDS)
    while accepted := _publish(producer, accepted):
        logger.warning("%d events not published; retrying them", len(accepted))
        time.sleep(RETRY_SECONDS)
    for rejection in rejections:
        try:
            async_to_sync(groups.send_to_user)(rejection["user"], rejection["frame"])
        except (RedisError, OSError) as exc:
            # Best effort: the sender's message stays unacknowledged by `message.new` either way.
            logger.warning("could not tell %s of a rejection: %s", rejection["user"], exc)


def run(stop: threading.Event) -> None:
    kafka.ensure_inbound_topic()
    producer = kafka.make_sync_producer()
    consumer = kafka.make_consumer(group_id=kafka.moderation_group())
    consumer.subscribe([kafka.inbound_topic()])
    logger.info("moderation consuming %s", kafka.inbound_topic())
    try:
        while not stop.is_set():
            records = kafka.next_batch(consumer)
            if not records:
                continue
            _handle(producer, [event for event in map(_decode_inbound, records) if event is not None])
            kafka.commit_done(consumer)
    finally:
        consumer.close()
        producer.flush(10)
