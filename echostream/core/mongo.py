"""The only module that imports PyMongo: clients, collections and the errors callers may meet."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import bson
import msgspec
import pymongo
from django.conf import settings
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

__all__ = [
    "ASCENDING",
    "DESCENDING",
    "DUPLICATE_KEY",
    "AsyncCollection",
    "BulkWriteError",
    "DuplicateKeyError",
    "Index",
    "PyMongoError",
    "check_storable",
    "close",
    "collection",
    "database_name",
    "deadline",
    "drop_collection",
    "drop_database",
    "find_by_ids",
    "index_of",
    "is_outage",
    "list_indexes",
    "ping",
    "ping_once",
    "reads_every_document",
]

# The server's code for a write refused by a unique index.
DUPLICATE_KEY = 11000

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


async def find_by_ids(collection: AsyncCollection[dict[str, Any]], ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The documents with these `_id`s that exist, by `_id`: one look-up per id, all at once.
    FerretDB serves an `_id` equality from its index but reads every stored document for an `$in`."""
    found = await asyncio.gather(*(collection.find_one({"_id": one}) for one in dict.fromkeys(ids)))
    return {document["_id"]: document for document in found if document is not None}


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
    with _own_client(timeout) as probe:
        probe.admin.command("ping")


class Index(msgspec.Struct, frozen=True, kw_only=True):
    """An index as the code asks for it and as MongoDB lists it: its keys in order, each with its
    direction (ASCENDING or DESCENDING), and whether it is unique."""

    keys: tuple[tuple[str, int], ...]
    unique: bool = False

    def describe(self) -> str:
        keys = ", ".join(f"{field} {'asc' if direction == ASCENDING else 'desc'}" for field, direction in self.keys)
        return f"({keys}){' unique' if self.unique else ''}"


async def create_index(name: str, index: Index) -> None:
    await collection(name).create_index(list(index.keys), unique=index.unique)


def index_of(spec: dict[str, Any]) -> Index:
    """An index as `list_indexes` answers it (FerretDB may write a direction as a float)."""
    keys = tuple((field, int(direction)) for field, direction in dict(spec["key"]).items())
    return Index(keys=keys, unique=bool(spec.get("unique", False)))


@contextlib.contextmanager
def _own_client(timeout: float) -> Iterator[pymongo.MongoClient[dict[str, Any]]]:
    """A client of its own that gives up after `timeout` seconds (no event loop needed, like
    `ping_once`): for the operator's questions."""
    ms = int(timeout * 1000)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        settings.MONGODB_URI, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
    )
    try:
        yield client
    finally:
        client.close()


def list_indexes(name: str, *, timeout: float) -> list[Index]:
    """The indexes of this namespace's collection `name` (none for a collection that does not exist)."""
    with _own_client(timeout) as client:
        return [index_of(spec) for spec in client[database_name()][name].list_indexes()]


# How each server's query plan names a read of every stored document: MongoDB's winning plan,
# FerretDB's SQLite plan, FerretDB's PostgreSQL plan.
_WHOLE_COLLECTION_PLANS = ("COLLSCAN", "detail=SCAN", "Seq Scan")


def reads_every_document(name: str, filter_: dict[str, Any], *, timeout: float) -> bool:
    """Whether the server would read every document of the collection to find those matching
    `filter_` (its `explain`), rather than look them up in an index. A collection that does not
    exist has no plan to read: False."""
    with _own_client(timeout) as client:
        explained = client[database_name()].command("explain", {"find": name, "filter": filter_})
    plan = str(explained.get("queryPlanner", explained))
    return any(marker in plan for marker in _WHOLE_COLLECTION_PLANS)


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
