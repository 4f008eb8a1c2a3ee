"""`rebuild_projection --all --drop` throughput: events per second from the rooms' Kafka topics
into MongoDB. Needs `make services` (its own namespace, removed afterwards).

Puts `--events` valid message.created events across `--rooms` room topics (as the moderation
worker would), then runs the command, with its progress bar, and prints events/s.
The target (issue 11): at least 5,000 events/s on 1,000,000 events.

Run: `.venv/bin/python bench/rebuild.py [--events 100000] [--rooms 100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from tqdm import tqdm  # noqa: E402

from echostream.core import events, kafka, mongo, redis  # noqa: E402


def message_id(room_id: str, seq: int) -> str:
    """Derived, as the real ones are (docs/decisions.md), and of their shape: 32 hex digits."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{room_id}/{seq}").hex


def fill_logs(rooms: list[str], per_room: int) -> None:
    producer = kafka.make_sync_producer()
    with tqdm(total=len(rooms) * per_room, unit="event", desc="producing", file=sys.stderr) as progress:
        for room_id in rooms:
            kafka.ensure_room_topic(room_id)
            for seq in range(per_room):
                created = events.MessageCreated(
                    id=message_id(room_id, seq),
                    room=room_id,
                    occurred_at=events.now(),
                    actor=str(seq % 4 + 1),
                    data=events.CreatedData(client_id=f"c{seq}", body="x" * 80, sender=f"user{seq % 4 + 1}"),
                )
                producer.produce(kafka.room_topic(room_id), key=room_id.encode(), value=events.encode(created))
                producer.poll(0)
            progress.update(per_room)
    assert producer.flush(60) == 0


async def cleanup() -> None:
    await mongo.drop_database()
    await redis.delete_namespace_keys()


def main(args: argparse.Namespace) -> None:
    rooms = [f"b{n:04d}{uuid.uuid4().hex[:4]}" for n in range(args.rooms)]
    per_room = args.events // args.rooms
    try:
        fill_logs(rooms, per_room)
        started = time.perf_counter()
        call_command("rebuild_projection", "--all", "--drop")
        elapsed = time.perf_counter() - started
    finally:
        asyncio.run(cleanup())
        kafka.delete_namespace_topics()
    total = per_room * args.rooms
    print(f"rebuild_projection --all --drop: {total} events in {elapsed:.1f} s: {total / elapsed:.0f} events/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rooms", type=int, default=100)
    main(parser.parse_args())
