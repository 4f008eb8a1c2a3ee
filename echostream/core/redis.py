"""Builds Redis clients. Each concern (rate limits, presence, cache) keeps its own
key formats and TTLs in its own module and asks here for a client and a key prefix."""

from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache

import redis as redis_sync
from django.conf import settings
from redis.asyncio import Redis
from redis.exceptions import DataError, RedisError

__all__ = ["Redis", "RedisError", "client", "is_outage", "key", "ping_once", "sync_client"]

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()


def client() -> Redis:
    # redis.asyncio connections belong to the loop that opened them.
    loop = asyncio.get_running_loop()
    redis = _clients.get(loop)
    if redis is None:
        redis = Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _clients[loop] = redis
    return redis


def sync_client() -> redis_sync.Redis:
    """A blocking client, for the moderation worker's plain Kafka loop (a loop per call to reach
    the async one would open a connection per message). Thread-safe; one per process and URL."""
    return _sync_client(settings.REDIS_URL)


@lru_cache(maxsize=4)
def _sync_client(url: str) -> redis_sync.Redis:
    return redis_sync.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5)


def key(*parts: str) -> str:
    return ":".join((settings.ECHOSTREAM_NAMESPACE, *parts))


async def delete_namespace_keys() -> None:
    redis = client()
    async for name in redis.scan_iter(match=key("*"), count=1000):
        await redis.delete(name)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says Redis cannot do it for now (wait and retry): any error Redis answered
    or a connection raised (unreachable, loading, OOM, READONLY, MASTERDOWN, BUSY, ...).
    Not a value the client could not encode (DataError, raised before anything was sent, or a
    UnicodeEncodeError, which is no RedisError): that would fail the same way forever."""
    return isinstance(exc, RedisError) and not isinstance(exc, DataError)


def ping_once(*, timeout: float) -> None:
    """Returns once Redis answers PING within `timeout` seconds, on a connection of its own (a
    readiness probe must not wait behind the process's busy or broken pool); raises otherwise."""
    probe = redis_sync.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        probe.ping()
    finally:
        probe.close()
