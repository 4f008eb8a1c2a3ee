"""The projector: a pure fold of room events into message documents.

The bridge applies it event by event as events arrive; a rebuild applies it to a
room's whole topic. Both get the same documents because both use this function.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from echostream.core import events, wire
from echostream.core.events import MessageCreated, MessageDeleted, MessageEdited, RoomEvent

MessageDoc = dict[str, Any]


class NotARoomEvent(ValueError):
    """A record of a room's topic that is not an event of that room; the message says why."""


def record_to_event(*, room_id: str, offset: int, value: bytes | None) -> RoomEvent:
    """The room event in a record of the room's topic, its seq set to the record's offset;
    NotARoomEvent for a record that is not one."""
    try:
        event = events.decode(value or b"")
    except events.InvalidEvent as exc:
        raise NotARoomEvent(f"malformed record in room {room_id} at {offset}: {exc}") from exc
    if not isinstance(event, RoomEvent):
        raise NotARoomEvent(f"{type(event).__name__} record in room {room_id} at {offset}: not a room event")
    if event.room != room_id:
        raise NotARoomEvent(f"record in room {room_id} at {offset} names room {event.room}")
    return msgspec.structs.replace(event, seq=offset)


def message_id_of(event: RoomEvent) -> str:
    if isinstance(event, MessageCreated):
        return event.id
    return event.data.message_id


def apply(message: MessageDoc | None, event: RoomEvent) -> MessageDoc | None:
    """The message document after `event`, given the document before it (None: none yet)."""
    if event.seq is None:
        raise ValueError("only events read from a room topic (with a seq) can be projected")
    if isinstance(event, MessageCreated):
        if message is not None:
            # The same id again: a replayed event or a client's retry. The first wins.
            return message
        return {
            "_id": event.id,
            "room": event.room,
            "seq": event.seq,
            "sender": event.data.sender,
            "sender_id": event.actor,
            "body": event.data.body,
            "client_id": event.data.client_id,
            "attachments": [msgspec.to_builtins(meta) for meta in event.data.attachments],
            "created_at": event.occurred_at,
            "edited_at": None,
            "edit_id": None,
            "deleted": False,
            "moderation": _label(event.data.moderation),
            "version_seq": event.seq,
        }
    if message is None or event.seq <= message["version_seq"] or message["deleted"] or message["room"] != event.room:
        # Unknown message, an event already folded in, a change after a delete, or a
        # record that reaches for another room's message.
        return message
    if isinstance(event, MessageEdited):
        # A republished copy of an older edit comes later in the log than the edit that
        # replaced it; the time each edit was made decides, so the copy changes nothing.
        if message["edited_at"] is not None and (event.occurred_at, event.id) <= (
            message["edited_at"],
            message.get("edit_id") or "",
        ):
            return message
        return {
            **message,
            "body": event.data.body,
            "edited_at": event.occurred_at,
            "edit_id": event.id,
            # The label tells what was done to the text shown, and the edit replaced it.
            "moderation": _label(event.data.moderation),
            "version_seq": event.seq,
        }
    if isinstance(event, MessageDeleted):
        return {**message, "body": "", "attachments": [], "deleted": True, "version_seq": event.seq}
    raise TypeError(f"not a room event: {type(event).__name__}")


def _label(label: events.ModerationLabel | None) -> dict[str, Any] | None:
    return None if label is None else msgspec.to_builtins(label)


def fold(events: Iterable[RoomEvent]) -> dict[str, MessageDoc]:
    """Every message document that a sequence of room events produces, by id."""
    state: dict[str, MessageDoc] = {}
    for event in events:
        message_id = message_id_of(event)
        document = apply(state.get(message_id), event)
        if document is not None:
            state[message_id] = document
    return state


def to_api(message: MessageDoc) -> dict[str, Any]:
    """A message document as PROTOCOL.md's `message` object."""
    api: dict[str, Any] = {
        "id": message["_id"],
        "room": message["room"],
        "seq": message["seq"],
        "sender": message["sender"],
        "body": "" if message["deleted"] else message["body"],
        "created_at": message["created_at"].isoformat(),
        "client_id": message["client_id"],
        "attachments": [] if message["deleted"] else [attachment_to_api(meta) for meta in message["attachments"]],
    }
    if message["edited_at"] is not None:
        api["edited_at"] = message["edited_at"].isoformat()
    if message["deleted"]:
        api["deleted"] = True
    if label := message.get("moderation"):
        # A document stored before labels were objects may hold the bare action.
        api["moderation"] = {"action": label} if isinstance(label, str) else label
    return api


def attachment_to_api(meta: dict[str, Any]) -> dict[str, Any]:
    """An attachment's metadata (as events.AttachmentMeta's fields) as PROTOCOL.md's attachment
    object: `url`, and `width`, `height`, `thumbnail_url` for images."""
    if isinstance(meta, str):  # a bare id, as no stored document holds, read tolerantly
        meta = {"id": meta, "filename": "attachment", "content_type": "application/octet-stream", "size": 0}
    api: dict[str, Any] = {
        "id": meta["id"],
        "filename": meta["filename"],
        "content_type": meta["content_type"],
        "size": meta["size"],
        "url": f"/api/attachments/{meta['id']}/",
    }
    if meta.get("width") and meta.get("height"):
        api["width"], api["height"] = meta["width"], meta["height"]
    if meta.get("thumbnail"):
        api["thumbnail_url"] = f"/api/attachments/{meta['id']}/thumbnail/"
    return api


def attachment_from_api(api: dict[str, Any]) -> dict[str, Any]:
    """The metadata that `attachment_to_api` showed (chat.recent keeps messages as API objects)."""
    return {
        "id": api["id"],
        "filename": api["filename"],
        "content_type": api["content_type"],
        "size": api["size"],
        "width": api.get("width"),
        "height": api.get("height"),
        "thumbnail": "thumbnail_url" in api,
    }


def room_event_frame(
    *, new: bool, seq: int, message: MessageDoc, prev_seq: int | None = None
) -> wire.MessageNew | wire.MessageUpdated:
    """The socket frame that shows a message as of the event at `seq`: `message.new` for its
    creation, `message.updated` for a change; `seq` is the event's, the client's resume cursor;
    `prev_seq` the seq of the room event shown before it (see echostream.core.delivery)."""
    shape = wire.MessageNew if new else wire.MessageUpdated
    return shape(seq=seq, message=msgspec.convert(to_api(message), wire.Message), prev_seq=prev_seq)
