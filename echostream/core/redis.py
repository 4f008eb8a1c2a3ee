"""Builds Redis clients. Each concern (rate limits, presence, cache) keeps its own
key formats and TTLs in its own module and asks here for a client and a key prefix."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import redis as redis_sync
from django.conf import settings
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import DataError, RedisError

__all__ = [
    "Pipeline",
    "Redis",
    "RedisError",
    "client",
    "in_shared_pipeline",
    "is_outage",
    "key",
    "ping_once",
    "sync_client",
]

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()


def client() -> Redis:
    # redis.asyncio connections belong to the loop that opened them.
    loop = asyncio.get_running_loop()
    redis = _clients.get(loop)
    if redis is None:
        redis = Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _clients[loop] = redis
    return redis


# Per loop: what was asked for in its current turn (each a function that queues commands, with
# the future of their answers).
_Queue = Callable[[Pipeline], object]
_queued: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[tuple[_Queue, asyncio.Future[list[Any]]]]] = (
    weakref.WeakKeyDictionary()
)
_flushing: set[asyncio.Task[None]] = set()


async def in_shared_pipeline(queue: _Queue) -> list[Any]:
    """The answers, in order, to the commands that `queue` puts on the pipeline it is given;
    that pipeline carries every command asked for this way in the same turn of the event loop.

    Tasks woken together (the acks of one Kafka delivery report, the frames of one socket read,
    steps gathered with asyncio.gather) then pay one round trip between them rather than one
    each, and a lone caller waits only for the rest of the current turn. The first of its own
    commands' errors is raised, never a neighbour's. Its commands run even if it is cancelled."""
    loop = asyncio.get_running_loop()
    queued = _queued.get(loop)
    if queued is None:
        queued = _queued[loop] = []
        loop.call_soon(_send_queued, loop)
    answers: asyncio.Future[list[Any]] = loop.create_future()
    queued.append((queue, answers))
    return await answers


def _send_queued(loop: asyncio.AbstractEventLoop) -> None:
    task = loop.create_task(_execute(_queued.pop(loop)))
    _flushing.add(task)
    task.add_done_callback(_flushing.discard)


async def _execute(queued: list[tuple[_Queue, asyncio.Future[list[Any]]]]) -> None:
    try:
        async with client().pipeline(transaction=False) as pipe:
            spans = []
            for queue, answers in queued:
                start = len(pipe.command_stack)
                try:
                    queue(pipe)
                except Exception as exc:
                    del pipe.command_stack[start:]
                    if not answers.done():  # a caller cancelled meanwhile has nobody to tell
                        answers.set_exception(exc)
                spans.append((start, len(pipe.command_stack)))
            # A command Redis refuses is answered with its error in its place, not raised.
            results = await pipe.execute(raise_on_error=False)
    except Exception as exc:
        if not is_outage(exc) and len(queued) > 1:
            # A value that cannot be encoded fails the whole pipeline before anything is sent:
            # each caller goes again alone, so that the error reaches only the one that sent it.
            for one in queued:
                if not one[1].done():
                    await _execute([one])
            return
        for _, answers in queued:
            if not answers.done():
                answers.set_exception(exc)
        return
    for (_, answers), (start, end) in zip(queued, spans, strict=True):
        own = results[start:end]
        if answers.done():
            continue
        if error := next((result for result in own if isinstance(result, Exception)), None):
            answers.set_exception(error)
        else:
            answers.set_result(own)


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
