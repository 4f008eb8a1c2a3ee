"""The bridge role: room topics in Kafka -> MongoDB history -> members' sockets.

Offsets are committed only after every event of a batch is stored and sent, so a
crash replays at most one batch, which the idempotent projection absorbs.
"""

from __future__ import annotations

import asyncio
import logging

from chat import projector, repository, services
from echostream.core import events, kafka, mongo, redis

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


async def _apply_until_done(event: events.RoomEvent) -> None:
    # A store that is down must not turn into a lost event: wait and try again.
    while True:
        try:
            await services.do_apply_room_event(event=event)
            return
        except (mongo.PyMongoError, redis.RedisError, OSError) as exc:
            logger.warning("event %s at %s@%s not applied (%s); retrying", event.id, event.room, event.seq, exc)
            await asyncio.sleep(RETRY_SECONDS)


async def run(stop: asyncio.Event) -> None:
    await repository.ensure_indexes()
    consumer = kafka.make_consumer(group_id=kafka.bridge_group(), **{"max.poll.interval.ms": 600000})
    consumer.subscribe([kafka.room_topic_pattern()])
    logger.info("bridge consuming %s", kafka.room_topic_pattern())
    try:
        while not stop.is_set():
            batch = await asyncio.to_thread(kafka.next_batch, consumer)
            if not batch:
                continue
            for record in batch:
                event = projector.record_to_event(
                    room_id=kafka.room_id_from_topic(record.topic()), offset=record.offset(), value=record.value()
                )
                if event is not None:
                    await _apply_until_done(event)
            await asyncio.to_thread(kafka.commit_done, consumer)
    finally:
        await asyncio.to_thread(consumer.close)
