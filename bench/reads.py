"""Reads against the size of the stored history: the newest page, an older page, a resume of
several rooms and their unread counts, on a small store and then on a big one, in the same run;
and the writes that touch one stored message: an edit stored (as the bridge's store half stores
it) and a message's attachments checked and claimed (as the web and moderation do).
Needs `make services` (Kafka, Redis, MongoDB; its own namespace, removed afterwards).

Seeds `--small` messages across `--rooms` rooms, times each read, tops the store up to
`--messages` and times them again; prints p50 and p95 of each and the p95 ratio (big / small).
The target (issue 11): every read's ratio within 2 (the exit status says whether they are; the
writes' ratios are printed beside them). Each read returns as much on both stores (`--page`
messages, a cursor `--back` seqs behind the head), so a ratio above 1 is what the stored history
costs. The pages are read from MongoDB (chat.repository), not from the Redis cache of recent
messages, which would hide it; unread counts and resume go through the code the API and the
socket call, with a cold cache. Each store also holds one attachment per `--attachments-every`
messages; the edits change messages of a room of their own, so the rooms read stay as seeded.

Run: `.venv/bin/python bench/reads.py [--messages 1000000] [--small 10000] [--rooms 1000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")

import django

django.setup()

from tqdm import tqdm  # noqa: E402

from chat import attachments, attachments_store, projection, repository, selectors  # noqa: E402
from echostream.core import events, kafka, mongo, redis  # noqa: E402
from presence import receipts  # noqa: E402
from replay import services as replay  # noqa: E402

READER = "1"
SENDERS = ["1", "2", "3", "4"]
# Rooms the resume reads get a Kafka topic (a resume asks Kafka where each room's log ends);
# the other rooms need none, and the shared broker is spared a thousand topics.
RESUME_ROOMS = 20
BATCH = 10_000


def message(room_id: str, seq: int, created_at: datetime) -> repository.MessageDoc:
    """A message as chat.projector makes it from a message.created event."""
    return {
        "_id": message_id(room_id, seq),
        "room": room_id,
        "seq": seq,
        "sender": f"user{SENDERS[seq % len(SENDERS)]}",
        "sender_id": SENDERS[seq % len(SENDERS)],
        "body": f"message {seq} of room {room_id}: " + "x" * 60,
        "client_id": f"c{seq}",
        "attachments": [],
        "created_at": created_at,
        "edited_at": None,
        "edit_id": None,
        "deleted": False,
        "moderation": None,
        "version_seq": seq,
    }


async def seed(rooms: list[str], *, per_room: int, heads: dict[str, int], progress: tqdm) -> None:
    """Tops every room up to `per_room` messages, through the repository's bulk write (as a
    rebuild writes), in big unordered batches of whole rooms."""
    now = datetime.now(UTC)
    batch: list[repository.MessageDoc] = []
    for room_id in rooms:
        start = heads.get(room_id, -1) + 1
        batch.extend(message(room_id, seq, now) for seq in range(start, per_room))
        heads[room_id] = per_room - 1
        if len(batch) >= BATCH:
            await repository.put_all_unless_newer(batch)
            progress.update(len(batch))
            batch = []
    if batch:
        await repository.put_all_unless_newer(batch)
        progress.update(len(batch))


class Writes:
    """What the timed writes change: the messages of a room of their own (each edit takes the
    next seq, as in a room's log), and the reader's attachments, each claimed once."""

    ROOM_MESSAGES = 100
    PER_MESSAGE = 3

    def __init__(self) -> None:
        self.room = f"edits{uuid.uuid4().hex[:6]}"
        self.next_seq = self.ROOM_MESSAGES
        self.unclaimed: list[str] = []
        self.attachment_room = f"files{uuid.uuid4().hex[:6]}"
        self.seeded_attachments = 0

    async def seed_room(self) -> None:
        now = datetime.now(UTC)
        await repository.put_all_unless_newer([message(self.room, seq, now) for seq in range(self.ROOM_MESSAGES)])

    async def seed_attachments(self, *, total: int, own: int) -> None:
        """Tops the store up to `total` attachments of others, and gives the reader `own` new ones."""
        others = [attachment(room_id=f"r{n % 1000}", uploader_id="2") for n in range(total - self.seeded_attachments)]
        mine = [attachment(room_id=self.attachment_room, uploader_id=READER) for _ in range(own)]
        for start in range(0, len(others) + len(mine), 500):
            await asyncio.gather(*(attachments_store.insert(a) for a in (others + mine)[start : start + 500]))
        self.seeded_attachments = total
        self.unclaimed += [a["_id"] for a in mine]

    async def edit(self) -> None:
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        edited = message(self.room, seq % self.ROOM_MESSAGES, datetime.now(UTC))
        await projection.do_store_room_event(
            event=events.MessageEdited(
                id=uuid.uuid4().hex,
                room=self.room,
                seq=seq,
                occurred_at=events.now(),
                actor=edited["sender_id"],
                data=events.EditedData(message_id=edited["_id"], body=f"edited at {seq}"),
            )
        )

    async def attach(self) -> None:
        ids, self.unclaimed = self.unclaimed[: self.PER_MESSAGE], self.unclaimed[self.PER_MESSAGE :]
        client_id = uuid.uuid4().hex
        await attachments.acheck_for_message(
            sender_id=READER, room_id=self.attachment_room, client_id=client_id, attachment_ids=ids
        )
        message_id = events.message_id_for(room_id=self.attachment_room, sender_id=READER, client_id=client_id)
        await attachments.aclaim_for_message(
            sender_id=READER, room_id=self.attachment_room, message_id=message_id, attachment_ids=ids
        )


def attachment(*, room_id: str, uploader_id: str) -> attachments_store.AttachmentDoc:
    """Metadata as an upload stores it (chat.attachments.do_upload), of a small text file."""
    return {
        "_id": attachments.new_attachment_id(),
        "room": room_id,
        "uploader_id": uploader_id,
        "uploader": f"user{uploader_id}",
        "original_filename": "notes.txt",
        "filename": "notes.txt",
        "content_type": "text/plain",
        "size": 120,
        "sha256": "0" * 64,
        "width": None,
        "height": None,
        "storage_name": "attachments/seeded/file",
        "thumbnail_name": None,
        "thumbnail_type": None,
        "created_at": events.now(),
        "message_id": None,
    }


def message_id(room_id: str, seq: int) -> str:
    """Derived, as the real ones are (docs/decisions.md), and of their shape: 32 hex digits."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{room_id}/{seq}").hex


def fill_logs(rooms: list[str], heads: dict[str, int], logged: dict[str, int]) -> None:
    """Puts the seeded messages' events into the resume rooms' topics, so that their logs end
    where their histories do."""
    producer = kafka.make_sync_producer()
    for room_id in rooms:
        kafka.ensure_room_topic(room_id)
        for seq in range(logged.get(room_id, 0), heads[room_id] + 1):
            created = events.MessageCreated(
                id=message_id(room_id, seq),
                room=room_id,
                occurred_at=events.now(),
                actor=SENDERS[seq % len(SENDERS)],
                data=events.CreatedData(client_id=f"c{seq}", body="x", sender=f"user{SENDERS[seq % len(SENDERS)]}"),
            )
            producer.produce(kafka.room_topic(room_id), key=room_id.encode(), value=events.encode(created))
            producer.poll(0)
        logged[room_id] = heads[room_id] + 1
    assert producer.flush(60) == 0


async def mark_read(rooms: list[str], heads: dict[str, int], back: int) -> None:
    for room_id in rooms:
        await receipts.raise_watermark(user_id=READER, room_id=room_id, kind="read", seq=heads[room_id] - back)


async def timed(read: Callable[[], Awaitable[object]], reads: int) -> list[float]:
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


async def measure(
    rooms: list[str], heads: dict[str, int], writes: Writes, *, reads: int, page: int, back: int, several: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The times of each kind of read, and of each kind of write."""
    rng = random.Random(11)
    resume_rooms = rooms[:RESUME_ROOMS]

    async def newest() -> None:
        await repository.page(room_id=rng.choice(rooms), before=None, after=None, limit=page)

    async def older() -> None:
        room_id = rng.choice(rooms)
        # A page from the middle of the room's history.
        await repository.page(room_id=room_id, before=(heads[room_id] + 1) // 2, after=None, limit=page)

    async def resume() -> None:
        chosen = rng.sample(resume_rooms, several)
        replays = await replay.replay_rooms({room_id: heads[room_id] - back for room_id in chosen})
        assert all(len(replays[room_id].frames) == back for room_id in chosen), "resume missed messages"

    async def unread() -> None:
        chosen = rng.sample(rooms, several)
        counts = await selectors.unread_counts(
            user_id=READER, last_seqs={room_id: heads[room_id] for room_id in chosen}
        )
        assert all(0 < counts[room_id] <= back for room_id in chosen), counts

    await redis.delete_namespace_keys()  # a cold cache: the unread counts must come from MongoDB
    return {
        "newest page": await timed(newest, reads),
        "older page": await timed(older, reads),
        f"resume of {several} rooms": await timed(resume, reads),
        f"unread counts of {several} rooms": await timed(unread, reads),
    }, {
        "an edit stored": await timed(writes.edit, reads),
        f"{Writes.PER_MESSAGE} attachments claimed": await timed(writes.attach, reads),
    }


def report(title: str, results: dict[str, list[float]]) -> None:
    print(title)
    for name, times in results.items():
        print(f"  {name:<26} p50 {statistics.median(times):8.2f} ms   p95 {p95(times):8.2f} ms")


async def main(args: argparse.Namespace) -> int:
    logging.disable(logging.WARNING)
    rooms = [f"r{n:04d}{uuid.uuid4().hex[:4]}" for n in range(args.rooms)]
    heads: dict[str, int] = {}
    logged: dict[str, int] = {}
    small_per_room, big_per_room = args.small // args.rooms, args.messages // args.rooms
    if min(small_per_room, big_per_room) < 2 * args.back or args.page > small_per_room // 2:
        raise SystemExit("each room needs at least 2 x --back and 2 x --page messages on the small store")
    writes = Writes()
    own_attachments = args.reads * Writes.PER_MESSAGE
    shape = {"reads": args.reads, "page": args.page, "back": args.back, "several": args.several}
    await repository.ensure_indexes()
    try:
        await writes.seed_room()
        with tqdm(total=args.messages, unit="msg", desc="seeding", file=sys.stderr) as progress:
            await seed(rooms, per_room=small_per_room, heads=heads, progress=progress)
            await writes.seed_attachments(total=args.small // args.attachments_every, own=own_attachments)
            fill_logs(rooms[:RESUME_ROOMS], heads, logged)
            await mark_read(rooms, heads, args.back)
            small, small_writes = await measure(rooms, heads, writes, **shape)
            await seed(rooms, per_room=big_per_room, heads=heads, progress=progress)
        await writes.seed_attachments(total=args.messages // args.attachments_every, own=own_attachments)
        fill_logs(rooms[:RESUME_ROOMS], heads, logged)
        await mark_read(rooms, heads, args.back)
        big, big_writes = await measure(rooms, heads, writes, **shape)
    finally:
        await mongo.drop_database()
        await redis.delete_namespace_keys()
        await asyncio.to_thread(kafka.delete_namespace_topics)
    report(f"{small_per_room * args.rooms} messages stored ({args.rooms} rooms):", small | small_writes)
    report(f"{big_per_room * args.rooms} messages stored ({args.rooms} rooms):", big | big_writes)
    print("p95 ratio (big / small), target <= 2 for the reads:")
    ratios = {name: p95(big[name]) / p95(small[name]) for name in small}
    for name in small_writes:
        ratios[name] = p95(big_writes[name]) / p95(small_writes[name])
    for name, ratio in ratios.items():
        print(f"  {name:<26} {ratio:5.2f}")
    return 0 if max(ratios[name] for name in small) <= 2 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="the big store")
    parser.add_argument("--small", type=int, default=10_000, help="the small store")
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=60, help="reads of each kind on each store")
    parser.add_argument("--page", type=int, default=5, help="messages per page")
    parser.add_argument("--back", type=int, default=5, help="how far behind the head a cursor or read mark is")
    parser.add_argument("--several", type=int, default=10, help="rooms per resume and per unread count")
    parser.add_argument("--attachments-every", type=int, default=100, help="messages per stored attachment")
    sys.exit(asyncio.run(main(parser.parse_args())))
