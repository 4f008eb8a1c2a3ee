"""Presence in Redis: one sorted set per user of live connections, scored by when each expires.

A user is online while any connection's heartbeat is fresh; a tab that crashed
stops beating and drops out by itself after the TTL.
"""

from __future__ import annotations

import time

from django.conf import settings

from echostream.core import redis


def _connections_key(user_id: str) -> str:
    return redis.key("presence", user_id)


async def mark_alive(*, user_id: str, connection_id: str) -> None:
    ttl = settings.PRESENCE_TTL_SECONDS
    key = _connections_key(user_id)
    async with redis.client().pipeline(transaction=True) as pipe:
        pipe.zadd(key, {connection_id: time.time() + ttl})
        pipe.zremrangebyscore(key, "-inf", time.time())
        pipe.expire(key, ttl)
        await pipe.execute()


async def mark_gone(*, user_id: str, connection_id: str) -> None:
    await redis.client().zrem(_connections_key(user_id), connection_id)


async def online_user_ids(user_ids: list[str]) -> set[str]:
    if not user_ids:
        return set()
    now = time.time()
    async with redis.client().pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zcount(_connections_key(user_id), now, "+inf")
        counts = await pipe.execute()
    return {user_id for user_id, count in zip(user_ids, counts, strict=False) if count}
