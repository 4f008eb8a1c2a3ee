"""Builds Redis clients. Each concern (rate limits, presence, cache) keeps its own
key formats and TTLs in its own module and asks here for a client and a key prefix."""

from __future__ import annotations

import asyncio
import weakref

from django.conf import settings
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["Redis", "RedisError", "client", "is_outage", "key"]

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()


def client() -> Redis:
    # redis.asyncio connections belong to the loop that opened them.
    loop = asyncio.get_running_loop()
    redis = _clients.get(loop)
    if redis is None:
        redis = Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _clients[loop] = redis
    return redis


def key(*parts: str) -> str:
    return ":".join((settings.ECHOSTREAM_NAMESPACE, *parts))


async def delete_namespace_keys() -> None:
    redis = client()
    async for name in redis.scan_iter(match=key("*"), count=1000):
        await redis.delete(name)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says Redis is unreachable or still loading (wait and retry)."""
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)
