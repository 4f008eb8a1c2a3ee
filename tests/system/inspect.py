"""Read-only looks into the real Kafka and MongoDB, for assertions."""

from __future__ import annotations

import asyncio
import uuid

from chat import repository
from echostream.core import events, kafka, mongo


def room_topic_events(room_id: str) -> list[tuple[int, events.Event]]:
    """Every (offset, event) in the room's topic, from the start."""
    consumer = kafka.make_consumer(group_id=f"inspect-{uuid.uuid4().hex}")
    topic = kafka.room_topic(room_id)
    try:
        low, high = consumer.get_watermark_offsets(kafka.TopicPartition(topic, 0), timeout=10)
        consumer.assign([kafka.TopicPartition(topic, 0, low)])
        found: list[tuple[int, events.Event]] = []
        while low < high and (not found or found[-1][0] < high - 1):
            record = consumer.poll(5)
            if record is None:
                break
            if not record.error():
                found.append((record.offset(), events.decode(record.value())))
        return found
    finally:
        consumer.close()


async def stored_messages(room_id: str, *, at_least: int = 0) -> list[dict]:
    """The room's stored messages, once there are `at_least` of them (for up to a minute): the
    bridge stores apart from showing, so MongoDB may trail what a client just received."""
    try:
        for _ in range(300):
            found = await repository.changed_after(room_id=room_id, seq=-1)
            if len(found) >= at_least:
                break
            await asyncio.sleep(0.2)
        return found
    finally:
        await mongo.close()


def inbound_record_count() -> int:
    """How many records the inbound topic's partitions have had, all told."""
    consumer = kafka.make_consumer(group_id=f"inspect-{uuid.uuid4().hex}")
    topic = kafka.inbound_topic()
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(kafka.TopicPartition(topic, partition), timeout=10)[1]
            for partition in partitions
        )
    finally:
        consumer.close()
