"""The only module that imports PyMongo: clients, collections and the errors callers may meet."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

import bson
import pymongo
from django.conf import settings
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

__all__ = [
    "ASCENDING",
    "DESCENDING",
    "AsyncCollection",
    "BulkWriteError",
    "DuplicateKeyError",
    "PyMongoError",
    "check_storable",
    "close",
    "collection",
    "database_name",
    "deadline",
    "drop_collection",
    "drop_database",
    "is_outage",
    "ping",
    "ping_once",
    "replace_op",
]

# An async client belongs to the event loop that made it: one per loop.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMongoClient] = weakref.WeakKeyDictionary()


def database_name() -> str:
    return settings.ECHOSTREAM_NAMESPACE.replace(".", "_")


def _client() -> AsyncMongoClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = AsyncMongoClient(settings.MONGODB_URI, tz_aware=True, serverSelectionTimeoutMS=5000)
        _clients[loop] = client
    return client


def collection(name: str) -> AsyncCollection[dict[str, Any]]:
    return _client()[database_name()][name]


async def collection_names() -> list[str]:
    return sorted(await _client()[database_name()].list_collection_names())


async def drop_collection(name: str) -> None:
    await _client()[database_name()].drop_collection(name)


async def close() -> None:
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.close()


async def drop_database() -> None:
    await _client().drop_database(database_name())


async def ping() -> None:
    """Returns once MongoDB answers; raises what asking it raised (see `is_outage`)."""
    await _client().admin.command("ping")


def ping_once(*, timeout: float) -> None:
    """Returns once MongoDB answers a ping within `timeout` seconds, on a client of its own (no
    event loop needed, so a probe thread can call it); raises otherwise."""
    ms = int(timeout * 1000)
    probe = pymongo.MongoClient(
        settings.MONGODB_URI, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
    )
    try:
        probe.admin.command("ping")
    finally:
        probe.close()


def replace_op(filter_: dict[str, Any], document: dict[str, Any], *, upsert: bool) -> ReplaceOne:
    return ReplaceOne(filter_, document, upsert=upsert)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc`, met by a caller that already checked what it writes (`check_storable`),
    says MongoDB cannot do it for now (wait and retry): any PyMongo error but a duplicate key.
    Not only the connection errors and retryable codes: FerretDB reports a failed backend
    (PostgreSQL down, SQLite busy, a disk full) as OperationFailure InternalError (code 1), and
    skipping a record for it would lose it from history. A duplicate key is an answer."""
    return isinstance(exc, PyMongoError) and not isinstance(exc, DuplicateKeyError)


def check_storable(document: dict[str, Any]) -> None:
    """Raises what storing `document` would raise for its values alone (a date outside what
    BSON holds, an integer over 64 bits, a key it refuses), without asking MongoDB."""
    bson.encode(document)


def deadline(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Operations inside give up after `seconds` in all, finding a server included (the client
    waits 5 s for one otherwise): for a caller that has better things to do than wait."""
    return pymongo.timeout(seconds)
