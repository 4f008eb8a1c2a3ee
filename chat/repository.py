"""The message history in MongoDB: the only code that reads or writes the `messages` collection."""

from __future__ import annotations

import asyncio
import enum

from chat.projector import MessageDoc
from echostream.core import mongo

MESSAGES = "messages"


class Stored(enum.Enum):
    NEW = "new"
    # The same event again (a redelivery after a crash): nothing changed.
    REPLAYED = "replayed"
    # Another event with an id already stored under another seq: a client's retry.
    DUPLICATE = "duplicate"
    # Another message holds this (room, seq): the room's topic was re-created and
    # its offsets started again. Only a rebuild of the room's projection mends it.
    SEQ_TAKEN = "seq_taken"


def _messages() -> mongo.AsyncCollection:
    return mongo.collection(MESSAGES)


# What `ensure_indexes` makes (the bridge's store half, when it starts, and the rebuild), and
# what `manage.py doctor` checks is there. (room, seq) unique: a room's seq is one message.
INDEXES: dict[str, list[mongo.Index]] = {
    MESSAGES: [
        mongo.Index(keys=(("room", mongo.ASCENDING), ("seq", mongo.ASCENDING)), unique=True),
        mongo.Index(keys=(("room", mongo.ASCENDING), ("version_seq", mongo.ASCENDING))),
    ],
}


async def ensure_indexes() -> None:
    for name, indexes in INDEXES.items():
        for index in indexes:
            await mongo.create_index(name, index)


async def store_new(message: MessageDoc) -> Stored:
    return (await store_many([message]))[0]


async def store_many(messages: list[MessageDoc]) -> list[Stored]:
    """`store_new` for many messages in one unordered insert: what became of each, in order."""
    if not messages:
        return []
    try:
        await _messages().insert_many(messages, ordered=False)
    except mongo.BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != mongo.DUPLICATE_KEY for error in errors) or not errors:
            raise
        outcomes = [Stored.NEW] * len(messages)
        for error in errors:
            outcomes[error["index"]] = await _outcome_of_duplicate(messages[error["index"]])
        return outcomes
    return [Stored.NEW] * len(messages)


async def _outcome_of_duplicate(message: MessageDoc) -> Stored:
    existing = await _messages().find_one({"_id": message["_id"]})
    if existing is None:
        return Stored.SEQ_TAKEN
    return Stored.REPLAYED if existing["seq"] == message["seq"] else Stored.DUPLICATE


def check_storable(message: MessageDoc) -> None:
    """Raises what storing the message would raise for its values alone (mongo.check_storable)."""
    mongo.check_storable(message)


async def get(message_id: str) -> MessageDoc | None:
    return await _messages().find_one({"_id": message_id})


async def replace_if_newer(message: MessageDoc) -> bool:
    """Writes the message unless the stored one already reflects this event or a later one
    (a rebuild, or another bridge during a rebalance, may have written meanwhile); whether it wrote."""
    try:
        await _messages().replace_one(
            {"_id": message["_id"], "version_seq": {"$lt": message["version_seq"]}}, message, upsert=True
        )
    except mongo.DuplicateKeyError:
        # The filter missed because a version at least as new is stored, so the upsert
        # collided with it on _id.
        return False
    return True


async def put_all_unless_newer(messages: list[MessageDoc]) -> tuple[int, list[MessageDoc]]:
    """Writes each message unless the stored one already reflects a later event; returns how
    many were written, and those refused because another message holds their (room, seq)."""
    if not messages:
        return 0, []
    operations = [
        mongo.replace_op({"_id": message["_id"], "version_seq": {"$lte": message["version_seq"]}}, message, upsert=True)
        for message in messages
    ]
    try:
        result = await _messages().bulk_write(operations, ordered=False)
        # matched_count already counts the modified ones.
        return result.upserted_count + result.matched_count, []
    except mongo.BulkWriteError as exc:
        failed = [messages[error["index"]] for error in exc.details["writeErrors"]]
        written = len(messages) - len(failed)
    # A refused upsert means either a newer version is stored (fine: the live bridge
    # is ahead) or the (room, seq) slot belongs to another message (a re-created topic).
    newer = await get_many([message["_id"] for message in failed])
    return written, [message for message in failed if message["_id"] not in newer]


async def delete_room(room_id: str) -> None:
    await _messages().delete_many({"room": room_id})


async def page(*, room_id: str, before: int | None, after: int | None, limit: int) -> tuple[list[MessageDoc], bool]:
    """Up to `limit` messages of a room, oldest first, and whether more lie beyond.

    With `after`, the page starts just after that seq and `has_more` means newer
    ones follow; otherwise it ends just before `before` (or at the newest) and
    `has_more` means older ones precede.
    """
    seq_filter: dict[str, int] = {}
    if before is not None:
        seq_filter["$lt"] = before
    if after is not None:
        seq_filter["$gt"] = after
    query: dict[str, object] = {"room": room_id}
    if seq_filter:
        query["seq"] = seq_filter
    direction = mongo.ASCENDING if after is not None else mongo.DESCENDING
    cursor = _messages().find(query).sort("seq", direction).limit(limit + 1)
    found = await cursor.to_list(length=limit + 1)
    has_more = len(found) > limit
    found = found[:limit]
    if direction == mongo.DESCENDING:
        found.reverse()
    return found, has_more


async def newest(room_ids: list[str]) -> dict[str, MessageDoc]:
    """Each room's newest message, for the rooms that have one. One query per room, all at once:
    FerretDB has no `$group` accumulator that would pick each room's newest in one."""
    found = await asyncio.gather(
        *(_messages().find_one({"room": room_id}, sort=[("seq", mongo.DESCENDING)]) for room_id in room_ids)
    )
    return {room_id: document for room_id, document in zip(room_ids, found, strict=True) if document is not None}


async def changed_after(*, room_id: str, seq: int) -> list[MessageDoc]:
    """Every message of the room created or changed by an event after `seq`, by seq."""
    cursor = _messages().find({"room": room_id, "version_seq": {"$gt": seq}}).sort("seq", mongo.ASCENDING)
    return await cursor.to_list(length=None)


async def get_many(message_ids: list[str]) -> dict[str, MessageDoc]:
    found = await _messages().find({"_id": {"$in": message_ids}}).to_list(length=None)
    return {document["_id"]: document for document in found}


async def count_after(*, room_id: str, seq: int, exclude_sender_id: str) -> int:
    return await _messages().count_documents(
        {"room": room_id, "seq": {"$gt": seq}, "sender_id": {"$ne": exclude_sender_id}, "deleted": False}
    )


async def drop() -> None:
    await mongo.drop_collection(MESSAGES)
