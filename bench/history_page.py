"""The newest page of a big room's history: MongoDB alone (the baseline) against the Redis
cache of recent messages, in the same run. Needs `make services`.

Run: `.venv/bin/python bench/history_page.py [--messages N] [--reads N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")

import django

django.setup()

from chat import repository, selectors  # noqa: E402
from echostream.core import mongo, redis  # noqa: E402


async def mean_ms(read, reads: int) -> float:
    started = time.perf_counter()
    for _ in range(reads):
        await read()
    return (time.perf_counter() - started) / reads * 1000


async def main(messages: int, reads: int) -> None:
    room_id = f"bench-{uuid.uuid4().hex[:6]}"
    await repository.ensure_indexes()
    now = datetime.now(UTC)
    # Through the repository: reads find messages by the seq entries it writes with them.
    await repository.put_all_unless_newer(
        [
            {
                "_id": f"{room_id}-{seq}",
                "room": room_id,
                "seq": seq,
                "sender": "alice",
                "sender_id": "1",
                "body": "x" * 80,
                "client_id": str(seq),
                "attachments": [],
                "created_at": now,
                "edited_at": None,
                "deleted": False,
                "moderation": None,
                "version_seq": seq,
            }
            for seq in range(messages)
        ]
    )
    try:
        baseline = await mean_ms(
            lambda: repository.page(room_id=room_id, before=None, after=None, limit=50), max(reads // 10, 3)
        )
        await selectors.message_page(room_id=room_id, before=None, after=None, limit=50)  # fills the cache
        cached = await mean_ms(
            lambda: selectors.message_page(room_id=room_id, before=None, after=None, limit=50), reads
        )
    finally:
        await mongo.drop_database()
        await redis.delete_namespace_keys()
    print(f"newest 50 of {messages} messages: MongoDB {baseline:.1f} ms, cached {cached:.2f} ms, "
          f"{baseline / cached:.0f}x faster")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.reads))
