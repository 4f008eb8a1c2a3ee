"""Attachment metadata in MongoDB: the only code that reads or writes the `attachments` collection.

A document: `_id` (the attachment id), `room`, `uploader_id`, `uploader`, `original_filename`,
`filename` (the safe one), `content_type` (sniffed), `size`, `sha256`, `width`, `height`,
`storage_name` and `thumbnail_name` (names in Django's storage), `created_at`, and `message_id`:
None until a message claims it (the moderation worker, as it publishes the message).
"""

from __future__ import annotations

import asyncio
from typing import Any

from echostream.core import mongo

ATTACHMENTS = "attachments"

AttachmentDoc = dict[str, Any]


def _attachments() -> mongo.AsyncCollection:
    return mongo.collection(ATTACHMENTS)


async def insert(document: AttachmentDoc) -> None:
    await _attachments().insert_one(document)


async def get(attachment_id: str) -> AttachmentDoc | None:
    return await _attachments().find_one({"_id": attachment_id})


async def get_many(attachment_ids: list[str]) -> dict[str, AttachmentDoc]:
    return await mongo.find_by_ids(_attachments(), attachment_ids)


async def claim(*, attachment_ids: list[str], message_id: str) -> None:
    """Marks the attachments as the message's, unless another message has them (the caller
    checks the outcome with `get_many`). Claiming again for the same message changes nothing."""
    await _set_owner(attachment_ids, was=None, becomes=message_id)


async def release(*, attachment_ids: list[str], message_id: str) -> None:
    """Undoes `claim` for a message that will not be published."""
    await _set_owner(attachment_ids, was=message_id, becomes=None)


async def _set_owner(attachment_ids: list[str], *, was: str | None, becomes: str | None) -> None:
    # By `_id`, one each (as `mongo.find_by_ids`); each is a compare-and-set on its own document.
    await asyncio.gather(
        *(
            _attachments().update_one({"_id": attachment_id, "message_id": was}, {"$set": {"message_id": becomes}})
            for attachment_id in dict.fromkeys(attachment_ids)
        )
    )


async def delete(attachment_id: str) -> None:
    await _attachments().delete_one({"_id": attachment_id})


async def count_in_room(room_id: str) -> int:
    return await _attachments().count_documents({"room": room_id})


async def drop() -> None:
    await mongo.drop_collection(ATTACHMENTS)
