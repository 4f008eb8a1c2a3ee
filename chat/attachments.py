"""Attachments: uploads (checked by chat.files, stored through Django's storage API, described in
MongoDB by chat.attachments_store), downloads for the members of their room, and the checks that
let a message carry them (docs/architecture.md, "Attachments").
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile

from chat import attachments_store, files, projector
from chat.selectors import ais_member, amessage_in_room
from echostream.core import events, mongo

logger = logging.getLogger(__name__)

T = TypeVar("T")


def new_attachment_id() -> str:
    return uuid.uuid4().hex


def _storage() -> Any:
    return storages["default"]


def to_meta(document: attachments_store.AttachmentDoc) -> events.AttachmentMeta:
    """The metadata that a room event carries for the attachment."""
    return events.AttachmentMeta(
        id=document["_id"],
        filename=document["filename"],
        content_type=document["content_type"],
        size=document["size"],
        width=document.get("width"),
        height=document.get("height"),
        thumbnail=bool(document.get("thumbnail_name")),
    )


def to_api(document: attachments_store.AttachmentDoc) -> dict[str, Any]:
    """PROTOCOL.md's attachment object, as the upload answers it and messages carry it."""
    return projector.attachment_to_api(msgspec.to_builtins(to_meta(document)))


# --- Upload ---------------------------------------------------------------------------------


def do_upload(*, uploader_id: str, uploader: str, room_id: str, upload: UploadedFile) -> dict[str, Any]:
    """Checks the file, stores it (and its thumbnail) and its metadata; the attachment object.
    The caller has checked membership. Nothing stays behind when any step fails."""
    max_bytes = settings.ATTACHMENT_MAX_BYTES
    if upload.size is not None and upload.size > max_bytes:
        raise files.FileTooLarge(max_bytes)
    checked = files.check(
        chunks=upload.chunks(),
        file=upload,
        filename=upload.name or "",
        declared_type=upload.content_type or "",
        max_pixels=settings.ATTACHMENT_MAX_PIXELS,
        thumbnail_px=settings.ATTACHMENT_THUMBNAIL_PX,
    )
    if checked.size > max_bytes:
        raise files.FileTooLarge(max_bytes)
    attachment_id = new_attachment_id()
    storage = _storage()
    folder = f"attachments/{room_id}/{attachment_id}"
    written: list[str] = []
    try:
        upload.seek(0)
        written.append(storage.save(f"{folder}/file", upload))
        thumbnail_name = None
        if checked.image is not None:
            extension = "jpg" if checked.image.thumbnail_type == "image/jpeg" else "png"
            thumbnail_name = storage.save(f"{folder}/thumbnail.{extension}", ContentFile(checked.image.thumbnail))
            written.append(thumbnail_name)
        document = {
            "_id": attachment_id,
            "room": room_id,
            "uploader_id": uploader_id,
            "uploader": uploader,
            "original_filename": (upload.name or "")[:1000],
            "filename": checked.filename,
            "content_type": checked.content_type,
            "size": checked.size,
            "sha256": checked.sha256,
            "width": checked.image.width if checked.image else None,
            "height": checked.image.height if checked.image else None,
            "storage_name": written[0],
            "thumbnail_name": thumbnail_name,
            "thumbnail_type": checked.image.thumbnail_type if checked.image else None,
            "created_at": events.now(),
            "message_id": None,
        }
        mongo.check_storable(document)
        async_to_sync(attachments_store.insert)(document)
    except BaseException:
        for name in written:
            try:
                storage.delete(name)
            except Exception:
                logger.exception("could not delete %s after a failed upload", name)
        raise
    return to_api(document)


# --- Download -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Download:
    storage_name: str
    filename: str
    content_type: str
    inline: bool


async def adownload(*, user_id: str, attachment_id: str, thumbnail: bool) -> Download | None:
    """What the user may download, or None (unknown, not a member of its room, its message deleted,
    no thumbnail): strangers learn nothing."""
    if not events.is_attachment_id(attachment_id):
        return None
    document = await attachments_store.get(attachment_id)
    if document is None or not await ais_member(user_id=user_id, room_id=document["room"]):
        return None
    message_id = document.get("message_id")
    if message_id and await _message_deleted(room_id=document["room"], message_id=message_id):
        return None
    if thumbnail:
        if not document.get("thumbnail_name"):
            return None
        return Download(
            storage_name=document["thumbnail_name"],
            filename=f"thumbnail-{document['filename']}",
            content_type=document["thumbnail_type"],
            inline=True,
        )
    return Download(
        storage_name=document["storage_name"],
        filename=document["filename"],
        content_type=document["content_type"],
        inline=files.is_inline_image(document["content_type"]),
    )


async def _message_deleted(*, room_id: str, message_id: str) -> bool:
    message = await amessage_in_room(room_id=room_id, message_id=message_id)
    return message is not None and bool(message["deleted"])


# --- Messages -------------------------------------------------------------------------------


class AttachmentProblem(ValueError):
    """Why a message may not carry the attachments it names (the detail is shown to its sender)."""


class AttachmentTaken(AttachmentProblem):
    """An attachment is another message's: an honest client can meet it (two sends at once)."""


def _problems(
    *,
    attachment_ids: list[str],
    found: dict[str, attachments_store.AttachmentDoc],
    sender_id: str,
    room_id: str,
    message_id: str,
) -> AttachmentProblem | None:
    if len(attachment_ids) > events.MAX_ATTACHMENTS:
        return AttachmentProblem(f"A message carries at most {events.MAX_ATTACHMENTS} attachments.")
    if len(set(attachment_ids)) != len(attachment_ids):
        return AttachmentProblem("An attachment is named twice.")
    for attachment_id in attachment_ids:
        document = found.get(attachment_id)
        if document is None or document["room"] != room_id or document["uploader_id"] != sender_id:
            return AttachmentProblem(f"Attachment {attachment_id} is not one you uploaded to this room.")
        if document.get("message_id") not in (None, message_id):
            return AttachmentTaken(f"Attachment {attachment_id} belongs to another message.")
    return None


async def acheck_for_message(*, sender_id: str, room_id: str, client_id: str, attachment_ids: list[str]) -> None:
    """The web tier's check at send time; AttachmentProblem names what is wrong."""
    if not all(events.is_attachment_id(value) for value in attachment_ids):
        raise AttachmentProblem("`attachments` must list attachment ids.")
    message_id = events.message_id_for(room_id=room_id, sender_id=sender_id, client_id=client_id)
    found = await attachments_store.get_many(attachment_ids) if attachment_ids else {}
    problem = _problems(
        attachment_ids=attachment_ids, found=found, sender_id=sender_id, room_id=room_id, message_id=message_id
    )
    if problem is not None:
        raise problem


async def aclaim_for_message(
    *, sender_id: str, room_id: str, message_id: str, attachment_ids: list[str]
) -> list[events.AttachmentMeta]:
    """The moderation worker's check, trusted: each attachment exists, was uploaded by the sender
    to the room and is no other message's; then claims them for the message (idempotent for a
    redelivered record). Their metadata in the given order; AttachmentProblem otherwise."""
    found = await attachments_store.get_many(attachment_ids)
    problem = _problems(
        attachment_ids=attachment_ids, found=found, sender_id=sender_id, room_id=room_id, message_id=message_id
    )
    if problem is not None:
        raise problem
    await attachments_store.claim(attachment_ids=attachment_ids, message_id=message_id)
    claimed = await attachments_store.get_many(attachment_ids)
    if any(claimed[attachment_id].get("message_id") != message_id for attachment_id in attachment_ids):
        # Another message claimed one meanwhile: give back what this one took.
        await attachments_store.release(attachment_ids=attachment_ids, message_id=message_id)
        raise AttachmentTaken("An attachment belongs to another message.")
    return [to_meta(claimed[attachment_id]) for attachment_id in attachment_ids]


def run_with_own_client(action: Callable[[], Any]) -> Any:
    """Runs the coroutine that `action` makes on a loop of its own (for sync code with no loop,
    such as the moderation worker), closing that loop's MongoDB client after."""

    async def run() -> Any:
        try:
            return await action()
        finally:
            await mongo.close()

    return asyncio.run(run())


def open_stored(name: str) -> Any:
    """The stored file, open for reading; FileNotFoundError when the store lost it."""
    return _storage().open(name, "rb")
