"""The bridge role: room topics in Kafka -> MongoDB history -> members' sockets.

Offsets are committed only after every event of a batch is stored and sent, so a
crash replays at most one batch, which the idempotent projection absorbs.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from django.conf import settings

from chat import repository, services
from echostream.core import events, kafka, mongo

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


def decode_room_record(*, topic: str, offset: int, value: bytes | None) -> events.RoomEvent | None:
    """The room event in a record, its seq set to the record's offset; None for a bad record."""
    room_id = kafka.room_id_from_topic(topic)
    try:
        event = events.decode(value or b"")
    except events.InvalidEvent as exc:
        logger.warning("skipped malformed record %s@%d: %s", topic, offset, exc)
        return None
    if not isinstance(event, events.RoomEvent):
        logger.warning("skipped %s record %s@%d: not a room event", type(event).__name__, topic, offset)
        return None
    if event.room != room_id:
        logger.warning("skipped record %s@%d: it names room %s", topic, offset, event.room)
        return None
    return msgspec.structs.replace(event, seq=offset)


async def _apply_until_done(event: events.RoomEvent) -> None:
    # A store that is down must not turn into a lost event: wait and try again.
    while True:
        try:
            await services.do_apply_room_event(event=event)
            return
        except (mongo.PyMongoError, ConnectionError, OSError) as exc:
            logger.warning("event %s at %s@%s not applied (%s); retrying", event.id, event.room, event.seq, exc)
            await asyncio.sleep(RETRY_SECONDS)


async def run(stop: asyncio.Event) -> None:
    await repository.ensure_indexes()
    consumer = kafka.make_consumer(
        group_id=f"{settings.ECHOSTREAM_NAMESPACE}.bridge", **{"max.poll.interval.ms": 600000}
    )
    consumer.subscribe([kafka.room_topic_pattern()])
    logger.info("bridge consuming %s", kafka.room_topic_pattern())
    try:
        while not stop.is_set():
            batch = await asyncio.to_thread(kafka.next_batch, consumer)
            if not batch:
                continue
            for record in batch:
                if record.error():
                    # Until the first room exists, the pattern matches nothing: not worth a warning.
                    if record.error().code() != kafka.KafkaError.UNKNOWN_TOPIC_OR_PART:
                        logger.warning("consumer error: %s", record.error())
                    continue
                event = decode_room_record(topic=record.topic(), offset=record.offset(), value=record.value())
                if event is not None:
                    await _apply_until_done(event)
            try:
                await asyncio.to_thread(consumer.commit, asynchronous=False)
            except kafka.KafkaException as exc:
                if exc.args[0].code() != kafka.KafkaError._NO_OFFSET:
                    logger.warning("offset commit failed (%s); the batch may be replayed", exc)
    finally:
        await asyncio.to_thread(consumer.close)
