"""The Redis cache of each room's newest messages: the first pages of history.

MongoDB behind FerretDB reads a whole collection for every query, so opening a
room must not go there. Per room: a sorted set of message ids by seq, a hash of
their documents (the API shape plus what it leaves out), and a floor: every message
with seq >= floor is cached (-1: the room's whole history is). The bridge's fan-out
writes every message it shows, before MongoDB may have it (marked live: the fan-out
folds later edits onto those); a page the cache cannot answer whole goes to MongoDB,
and the newest page then fills it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from django.conf import settings

from chat import projector
from echostream.core import redis

# KEYS: order, docs, floor. ARGV: id, seq, version, json, size, live (1/0).
# Keeps the newer version of a message (of two at the same version, the fan-out's: the same
# document, known to be live), trims to the newest `size`, and raises the floor past what
# the trim dropped.
_PUT = """
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current then
  local cached = cjson.decode(current)
  local version = tonumber(ARGV[3])
  if cached['version'] > version or (cached['version'] == version and (cached['live'] or ARGV[6] ~= '1')) then
    return 0
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5])
if excess > 0 then
  local gone = redis.call('ZRANGE', KEYS[1], 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
  redis.call('HDEL', KEYS[2], unpack(gone))
  local floor = redis.call('GET', KEYS[3])
  if floor then
    local lowest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
    if lowest > tonumber(floor) then
      redis.call('SET', KEYS[3], lowest)
    end
  end
end
return 1
"""

# KEYS: order, floor. ARGV: proposed floor, size. A full cache may have been trimmed
# while it was filled, so its floor is never below its lowest entry.
_SET_FLOOR = """
local floor = tonumber(ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local lowest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  if lowest > floor then
    floor = lowest
  end
end
redis.call('SET', KEYS[2], floor)
return floor
"""


def _keys(room_id: str) -> tuple[str, str, str]:
    return (
        redis.key("recent", room_id, "order"),
        redis.key("recent", room_id, "docs"),
        redis.key("recent", room_id, "floor"),
    )


def size() -> int:
    return settings.HISTORY_CACHE_SIZE


async def put(message: projector.MessageDoc, *, live: bool = False) -> None:
    """Caches the message unless a version at least as new is cached; `live`: the bridge's
    fan-out made it, by folding every event of the room up to its version in order."""
    await put_many([message], live=live)


async def put_many(messages: list[projector.MessageDoc], *, live: bool = False) -> None:
    """`put` for each message, in order, in one round trip. A room's first message as created
    (version 0), put live, also marks the room's whole history cached (`mark_whole`): the cache
    then holds its whole history, so history pages and unread counts come from it, not from a
    MongoDB that may not have it yet. Shared (redis.in_shared_pipeline): the fan-out's steps that
    do not wait for each other go in one round trip."""

    def queue(pipe: redis.Pipeline) -> None:
        for message in messages:
            order, docs, floor = _keys(message["room"])
            # With the two fields the API shape leaves out, an entry is the whole document: the
            # bridge's fan-out folds an edit onto a live one without asking MongoDB.
            value = msgspec.json.encode(
                {
                    "version": message["version_seq"],
                    "message": projector.to_api(message),
                    "sender_id": message["sender_id"],
                    "edit_id": message.get("edit_id"),
                    "live": live,
                }
            )
            pipe.eval(
                _PUT, 3, order, docs, floor, message["_id"], message["seq"], message["version_seq"], value, size(),
                int(live),
            )  # fmt: skip
            if live and message["version_seq"] == 0:
                pipe.eval(_SET_FLOOR, 2, order, floor, -1, size())

    if messages:
        await redis.in_shared_pipeline(queue)


async def fill(*, room_id: str, newest: list[projector.MessageDoc], complete: bool) -> None:
    """Caches the room's newest messages; `complete`: they are its whole history."""
    for message in newest:
        await put(message)
    order, _, floor = _keys(room_id)
    proposed = -1 if complete or not newest else min(message["seq"] for message in newest)
    await redis.client().eval(_SET_FLOOR, 2, order, floor, proposed, size())


async def mark_whole(room_id: str) -> None:
    """Every message of the room is cached: the bridge just cached its first, or the room was
    just made and has none."""
    order, _, floor = _keys(room_id)
    await redis.client().eval(_SET_FLOOR, 2, order, floor, -1, size())


async def count_after(*, room_id: str, seq: int, exclude_sender_id: str) -> int | None:
    """How many messages after `seq`, not deleted, others than `exclude_sender_id` sent; None
    when the cache cannot tell for sure."""
    order, docs, floor_key = _keys(room_id)
    client = redis.client()
    floor_value = await client.get(floor_key)
    if floor_value is None or int(floor_value) > seq + 1:
        return None  # some message after `seq` may be below the floor
    ids = await client.zrangebyscore(order, f"({seq}", "+inf")
    values = await client.hmget(docs, ids) if ids else []
    if any(value is None for value in values):
        return None  # trimmed between the two reads
    entries = [msgspec.json.decode(value) for value in values]
    if any("sender_id" not in entry for entry in entries):
        return None  # cached by an older version, without the sender's id
    return sum(
        1 for entry in entries if entry["sender_id"] != exclude_sender_id and not entry["message"].get("deleted")
    )


async def page(*, room_id: str, before: int | None, limit: int) -> tuple[list[dict[str, Any]], bool] | None:
    """The newest `limit` messages before `before` (API shape, oldest first) and whether
    older ones exist; None when the cache cannot tell for sure."""
    order, docs, floor_key = _keys(room_id)
    client = redis.client()
    floor_value = await client.get(floor_key)
    if floor_value is None:
        return None
    floor = int(floor_value)
    top = f"({before}" if before is not None else "+inf"
    ids = await client.zrevrangebyscore(order, top, max(floor, 0) if floor >= 0 else "-inf", start=0, num=limit + 1)
    if len(ids) <= limit and floor >= 0:
        return None  # older messages may exist below the floor
    values = await client.hmget(docs, ids) if ids else []
    if any(value is None for value in values):
        return None  # trimmed between the two reads
    messages = [msgspec.json.decode(value)["message"] for value in values]
    messages.reverse()
    return messages[-limit:], len(messages) > limit


async def page_after(*, room_id: str, after: int, limit: int) -> tuple[list[dict[str, Any]], bool] | None:
    """The oldest `limit` messages after `after` (API shape, oldest first) and whether newer
    ones exist; None when the cache cannot tell for sure."""
    order, docs, floor_key = _keys(room_id)
    client = redis.client()
    floor_value = await client.get(floor_key)
    if floor_value is None or int(floor_value) > after + 1:
        return None  # some message after `after` may be below the floor
    ids = await client.zrangebyscore(order, f"({after}", "+inf", start=0, num=limit + 1)
    values = await client.hmget(docs, ids) if ids else []
    if any(value is None for value in values):
        return None  # trimmed between the two reads
    messages = [msgspec.json.decode(value)["message"] for value in values]
    return messages[:limit], len(messages) > limit


async def newest(room_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each room's newest message (API shape) for the rooms the cache can tell: None for a room
    whose whole history it holds and that has no message. The fan-out caches every message it
    shows, so a room's highest entry is its newest message."""
    if not room_ids:
        return {}
    client = redis.client()
    async with client.pipeline(transaction=False) as pipe:
        for room_id in room_ids:
            order, _, floor = _keys(room_id)
            pipe.zrevrange(order, 0, 0)
            pipe.get(floor)
        answers = await pipe.execute()
    tops, floors = answers[0::2], answers[1::2]
    known: dict[str, dict[str, Any] | None] = {}
    held = {}
    for room_id, ids, floor in zip(room_ids, tops, floors, strict=True):
        if ids:
            held[room_id] = ids[0]
        elif floor is not None and int(floor) < 0:
            known[room_id] = None
    if held:
        async with client.pipeline(transaction=False) as pipe:
            for room_id, message_id in held.items():
                pipe.hget(_keys(room_id)[1], message_id)
            values = await pipe.execute()
        # An entry trimmed between the two reads is left out: the caller reads MongoDB for it.
        known.update(
            (room_id, msgspec.json.decode(value)["message"])
            for room_id, value in zip(held, values, strict=True)
            if value
        )
    return known


async def live_document(*, room_id: str, message_id: str) -> projector.MessageDoc | None:
    """The message as the bridge's fan-out last made it (as MongoDB would hold it); None when
    the cache holds no such entry. An entry filled from MongoDB does not count: MongoDB may lag
    behind the fan-out, so that entry may miss a change the fan-out already showed."""
    _, docs, _ = _keys(room_id)
    return _live_document(await redis.client().hget(docs, message_id))


async def live_documents(*, room_id: str, message_ids: list[str]) -> dict[str, projector.MessageDoc]:
    """`live_document` of each message the cache holds a live entry of, in one round trip."""
    if not message_ids:
        return {}
    _, docs, _ = _keys(room_id)
    values = await redis.client().hmget(docs, message_ids)
    found = {message_id: _live_document(value) for message_id, value in zip(message_ids, values, strict=True)}
    return {message_id: document for message_id, document in found.items() if document is not None}


def _live_document(value: str | None) -> projector.MessageDoc | None:
    if value is None:
        return None
    cached = msgspec.json.decode(value)
    if not cached.get("live"):
        return None
    api = cached["message"]
    return {
        "_id": api["id"],
        "room": api["room"],
        "seq": api["seq"],
        "sender": api["sender"],
        "sender_id": cached["sender_id"],
        "body": api["body"],
        "client_id": api["client_id"],
        "attachments": [projector.attachment_from_api(attachment) for attachment in api["attachments"]],
        "created_at": datetime.fromisoformat(api["created_at"]),
        "edited_at": datetime.fromisoformat(api["edited_at"]) if "edited_at" in api else None,
        "edit_id": cached["edit_id"],
        "deleted": api.get("deleted", False),
        "moderation": api.get("moderation"),
        "version_seq": cached["version"],
    }


async def forget(room_id: str | None = None) -> None:
    """Drops the cache of one room, or of every room."""
    client = redis.client()
    if room_id is not None:
        await client.delete(*_keys(room_id))
        return
    async for name in client.scan_iter(match=redis.key("recent", "*"), count=1000):
        await client.delete(name)
