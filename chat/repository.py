"""The message history in MongoDB: the only code that reads or writes the `messages` collection.

Every read and write finds its messages through `message_seqs`, by `_id`: the local FerretDB 1.24
(on SQLite, as scripts/services.sh builds it) serves only an `_id` equality from an index, and
filters, sorts and limits anything else in memory after reading every stored document
(docs/decisions.md, "Reads by `_id`"). So a room's seq is also a key: `<room>:<seq>` names the message that
event created or changed, and `<room>:head` holds the room's newest seq. A page is then a few
look-ups per message it returns, however much history is stored; MongoDB serves them alike.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from chat.projector import MessageDoc
from echostream.core import mongo

MESSAGES = "messages"
# seq -> message id entries and each room's head (see the module's docstring).
SEQS = "message_seqs"
# How many seqs past a room's head a read looks for entries a racing write left unannounced
# (FerretDB applies an update as a read then a write, so concurrent `$max`es may lose one).
HEAD_PROBE = 4
# Entries looked up at once while walking a room's seqs, at most.
MAX_WINDOW = 256


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


def _seqs() -> mongo.AsyncCollection:
    return mongo.collection(SEQS)


def _seq_key(room_id: str, seq: int) -> str:
    return f"{room_id}:{seq}"


def _head_key(room_id: str) -> str:
    return f"{room_id}:head"


async def _note(messages: list[MessageDoc]) -> None:
    """Records under each message's seq, and under the seq of its last change, that the message
    is there, and moves each room's head forward. Idempotent: an entry is written once (the
    first wins; a reader checks it against the message it names)."""
    entries: dict[str, dict[str, object]] = {}
    heads: dict[str, int] = {}
    for message in messages:
        room_id, seq, version_seq = message["room"], message["seq"], message["version_seq"]
        entries[_seq_key(room_id, seq)] = {"room": room_id, "seq": seq, "message": message["_id"], "created": True}
        if version_seq != seq:
            entries.setdefault(
                _seq_key(room_id, version_seq),
                {"room": room_id, "seq": version_seq, "message": message["_id"], "created": False},
            )
        heads[room_id] = max(heads.get(room_id, -1), seq, version_seq)
    if entries:
        try:
            await _seqs().insert_many([{"_id": key, **entry} for key, entry in entries.items()], ordered=False)
        except mongo.BulkWriteError as exc:
            if any(error.get("code") != mongo.DUPLICATE_KEY for error in exc.details["writeErrors"]):
                raise
    # One update each: FerretDB 1.24 on SQLite stopped answering altogether when the backfill
    # (ensure_indexes, a cursor open) sent these as one bulk write.
    for room_id, seq in heads.items():
        await _seqs().update_one(
            {"_id": _head_key(room_id)}, {"$max": {"seq": seq}, "$set": {"room": room_id}}, upsert=True
        )


# What `ensure_indexes` makes (the bridge's store half, when it starts, and the rebuild), and
# what `manage.py doctor` checks is there. (room, seq) unique: a room's seq is one message.
INDEXES: dict[str, list[mongo.Index]] = {
    MESSAGES: [
        mongo.Index(keys=(("room", mongo.ASCENDING), ("seq", mongo.ASCENDING)), unique=True),
        mongo.Index(keys=(("room", mongo.ASCENDING), ("version_seq", mongo.ASCENDING))),
    ],
}


# Marks a store whose messages all have their seq entries; no room's key (`<room>:...`) is it.
ENTRIES_MADE = "entries-made"
BACKFILL_BATCH = 10_000


async def ensure_indexes() -> None:
    for name, indexes in INDEXES.items():
        for index in indexes:
            await mongo.create_index(name, index)
    await _backfill_entries()


async def _backfill_entries() -> None:
    """Writes the seq entries of the messages stored before reads went through them, once per
    store (the bridge and the rebuild call this as they start): a single pass over them, and
    idempotent, so two callers at once only write the same entries twice."""
    if await _seqs().find_one({"_id": ENTRIES_MADE}) is not None:
        return
    cursor = _messages().find({}, batch_size=BACKFILL_BATCH)
    batch: list[MessageDoc] = []
    async for message in cursor:
        batch.append(message)
        if len(batch) >= BACKFILL_BATCH:
            await _note(batch)
            batch = []
    await _note(batch)
    await _seqs().update_one({"_id": ENTRIES_MADE}, {"$set": {"at": "ensure_indexes"}}, upsert=True)


async def store_new(message: MessageDoc) -> Stored:
    return (await store_many([message]))[0]


async def store_many(messages: list[MessageDoc]) -> list[Stored]:
    """`store_new` for many messages in one unordered insert: what became of each, in order."""
    if not messages:
        return []
    outcomes = [Stored.NEW] * len(messages)
    try:
        await _messages().insert_many(messages, ordered=False)
    except mongo.BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != mongo.DUPLICATE_KEY for error in errors) or not errors:
            raise
        for error in errors:
            outcomes[error["index"]] = await _outcome_of_duplicate(messages[error["index"]])
    # Again for a redelivery: a crash may have come between a message and its entries.
    await _note([m for m, outcome in zip(messages, outcomes, strict=True) if outcome in (Stored.NEW, Stored.REPLAYED)])
    return outcomes


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
        await _messages().replace_one(older_than(message), message, upsert=True)
    except mongo.DuplicateKeyError:
        # The filter missed because a version at least as new is stored, so the upsert
        # collided with it on _id.
        return False
    await _note([message])
    return True


def older_than(message: MessageDoc) -> dict[str, Any]:
    """The filter of the stored version of `message` older than it: by `_id`, so that FerretDB
    (patched, scripts/services.sh) looks it up in the index rather than reading every message."""
    return {"_id": message["_id"], "version_seq": {"$lt": message["version_seq"]}}


async def put_all_unless_newer(messages: list[MessageDoc]) -> tuple[int, list[MessageDoc]]:
    """Writes each message unless the stored one already reflects a later event; returns how
    many were written (a stored copy of the same version counts), and those refused because
    another message holds their (room, seq)."""
    if not messages:
        return 0, []
    # Inserts first, in one unordered batch: after a drop that is every message, and FerretDB
    # inserts in bulk but matches a conditional replace by reading every stored document. The
    # entries go at the same time: a reader skips an entry whose message is not there (yet, or
    # at all: one refused below), so they need not wait.
    inserted, _ = await asyncio.gather(_insert_all(messages), _note(messages))
    failed = [messages[index] for index in inserted]
    written = len(messages) - len(failed)
    stored = await get_many([message["_id"] for message in failed])
    refused = []
    for message in failed:
        current = stored.get(message["_id"])
        if current is None:
            # Not there by its id, so another message holds its (room, seq): a re-created topic.
            refused.append(message)
        elif current["version_seq"] == message["version_seq"]:
            written += 1
        elif current["version_seq"] < message["version_seq"] and await replace_if_newer(message):
            written += 1
        # Otherwise a newer version is stored: the live bridge is ahead.
    return written, refused


async def _insert_all(messages: list[MessageDoc]) -> list[int]:
    """Inserts the messages, unordered; the indexes of those refused for a duplicate key."""
    try:
        await _messages().insert_many(messages, ordered=False)
    except mongo.BulkWriteError as exc:
        if any(error.get("code") != mongo.DUPLICATE_KEY for error in exc.details["writeErrors"]):
            raise
        return [error["index"] for error in exc.details["writeErrors"]]
    return []


async def delete_room(room_id: str) -> None:
    """Deletes the room's messages and their entries, found through the entries (every stored
    message has its own, `_note`), so it costs what the room holds, not what the store holds.
    Each message goes before the entries naming it, and the head last, so that running it again
    after a crash finds what is left."""
    top = await _head(room_id)
    for start in range(0, top + 1, MAX_WINDOW):
        entries = [
            entry for _, entry in await _entries(room_id, range(start, min(start + MAX_WINDOW, top + 1))) if entry
        ]
        await asyncio.gather(*(_messages().delete_one({"_id": entry["message"], "room": room_id}) for entry in entries))
        await asyncio.gather(*(_seqs().delete_one({"_id": entry["_id"]}) for entry in entries))
    await _seqs().delete_one({"_id": _head_key(room_id)})


async def _head(room_id: str) -> int:
    """The room's newest seq that has an entry; -1 for a room with none."""
    found = await _seqs().find_one({"_id": _head_key(room_id)})
    head = found["seq"] if found is not None else -1
    while True:
        # Entries a lost `$max` left past the head (see HEAD_PROBE).
        ahead = [seq for seq, entry in await _entries(room_id, range(head + 1, head + 1 + HEAD_PROBE)) if entry]
        if not ahead:
            return head
        head = max(ahead)


async def _entries(room_id: str, seqs: range) -> list[tuple[int, dict[str, Any] | None]]:
    found = await asyncio.gather(*(_seqs().find_one({"_id": _seq_key(room_id, seq)}) for seq in seqs))
    return list(zip(seqs, found, strict=True))


async def _walk(
    room_id: str, *, start: int, stop: int, step: int, want: int | None, created_only: bool
) -> list[MessageDoc]:
    """The room's messages named by the entries at seqs start, start + step, ... (not `stop`),
    in that order, until `want` of them (None: all); with `created_only`, only each message at
    the seq that created it, else each message once, at its first entry met. Looks up a window
    of entries at once, then their messages at once."""
    found: list[MessageDoc] = []
    seen: set[str] = set()
    # Without gaps (seqs of edits, deletes, or records that are no event), `want` seqs hold
    # `want` messages: the first window asks for no more; each next one, met only past gaps,
    # asks for twice as many.
    window = want if want is not None else MAX_WINDOW
    position = start
    while (position < stop if step > 0 else position > stop) and (want is None or len(found) < want):
        end = min(position + window, stop) if step > 0 else max(position - window, stop)
        window = min(window * 2, MAX_WINDOW)
        entries = [
            (seq, entry)
            for seq, entry in await _entries(room_id, range(position, end, step))
            if entry is not None and (entry["created"] or not created_only) and entry["message"] not in seen
        ]
        documents = await asyncio.gather(*(_messages().find_one({"_id": entry["message"]}) for _, entry in entries))
        for (seq, entry), document in zip(entries, documents, strict=True):
            # An entry names a message only if the message says so: one whose slot was taken
            # (a re-created topic) or that is gone (a dropped room) has entries that do not.
            if document is None or document["room"] != room_id or entry["message"] in seen:
                continue
            if entry["created"] and document["seq"] != seq:
                continue
            if created_only and document["seq"] != seq:
                continue
            seen.add(entry["message"])
            found.append(document)
        position = end
    return found if want is None else found[:want]


async def page(*, room_id: str, before: int | None, after: int | None, limit: int) -> tuple[list[MessageDoc], bool]:
    """Up to `limit` messages of a room, oldest first, and whether more lie beyond.

    With `after`, the page starts just after that seq and `has_more` means newer
    ones follow; otherwise it ends just before `before` (or at the newest) and
    `has_more` means older ones precede.
    """
    head = await _head(room_id)
    if after is not None:
        top = head if before is None else min(head, before - 1)
        found = await _walk(room_id, start=after + 1, stop=top + 1, step=1, want=limit + 1, created_only=True)
        return found[:limit], len(found) > limit
    top = head if before is None else min(head, before - 1)
    found = await _walk(room_id, start=top, stop=-1, step=-1, want=limit + 1, created_only=True)
    has_more = len(found) > limit
    found = found[:limit]
    found.reverse()
    return found, has_more


async def newest(room_ids: list[str]) -> dict[str, MessageDoc]:
    """Each room's newest message, for the rooms that have one, all rooms at once."""

    async def newest_of(room_id: str) -> MessageDoc | None:
        found = await _walk(room_id, start=await _head(room_id), stop=-1, step=-1, want=1, created_only=True)
        return found[0] if found else None

    found = await asyncio.gather(*(newest_of(room_id) for room_id in room_ids))
    return {room_id: document for room_id, document in zip(room_ids, found, strict=True) if document is not None}


async def changed_after(*, room_id: str, seq: int) -> list[MessageDoc]:
    """Every message of the room created or changed by an event after `seq`, by seq."""
    head = await _head(room_id)
    found = await _walk(room_id, start=seq + 1, stop=head + 1, step=1, want=None, created_only=False)
    return sorted((document for document in found if document["version_seq"] > seq), key=lambda d: d["seq"])


async def get_many(message_ids: list[str]) -> dict[str, MessageDoc]:
    return await mongo.find_by_ids(_messages(), message_ids)


async def count_after(*, room_id: str, seq: int, exclude_sender_id: str) -> int:
    head = await _head(room_id)
    found = await _walk(room_id, start=seq + 1, stop=head + 1, step=1, want=None, created_only=True)
    return sum(1 for document in found if document["sender_id"] != exclude_sender_id and not document["deleted"])


async def drop() -> None:
    await mongo.drop_collection(MESSAGES)
    await mongo.drop_collection(SEQS)
