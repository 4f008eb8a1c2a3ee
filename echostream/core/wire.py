"""The server -> client frames of the socket contract (docs/protocol.md), one typed struct each.

Every frame a client gets is built from these, so a frame cannot drift from the
contract in one of the places that sends it. The channel layer carries plain
builtins: `to_builtins` on the way in, `from_builtins` (which checks) on the way out.
Fields that the contract marks optional are UNSET when absent, so they are left out
of the JSON rather than sent as null.

Reading is tolerant (an unknown field from a newer process during a rolling deploy is
dropped, not fatal); `decode_strictly` is for clients and tests that must see drift.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "PREVIEW_CHARS",
    "UNSET",
    "Error",
    "LastMessage",
    "MemberInfo",
    "Message",
    "MessageAck",
    "MessageNew",
    "MessageRejected",
    "MessageUpdated",
    "Moderation",
    "Pong",
    "Presence",
    "Receipt",
    "RejectReason",
    "ResumeDone",
    "Room",
    "RoomHead",
    "RoomJoined",
    "RoomLeft",
    "RoomUpdated",
    "ServerFrame",
    "Typing",
    "UnsetType",
    "decode_strictly",
    "encode",
    "from_builtins",
    "to_builtins",
]

RejectReason = Literal["moderation", "rate_limited", "forbidden", "invalid", "too_large"]


class _Frame(msgspec.Struct, kw_only=True, tag_field="type"):
    pass


class Moderation(msgspec.Struct, kw_only=True):
    """What moderation did to a message's text: `{"action": "censored"}`."""

    action: str


class Message(msgspec.Struct, kw_only=True):
    """PROTOCOL.md's `message` object."""

    id: str
    room: str
    seq: int
    sender: str
    body: str
    created_at: str
    client_id: str | None
    attachments: list[Any]
    edited_at: str | UnsetType = UNSET
    deleted: bool | UnsetType = UNSET
    moderation: Moderation | UnsetType = UNSET


class MessageAck(_Frame, tag="message.ack"):
    client_id: str
    room: str
    status: Literal["sent"] = "sent"


class MessageNew(_Frame, tag="message.new"):
    # The seq of the event this frame shows: the client's resume cursor.
    seq: int
    message: Message
    # The seq of the room's previous shown event, so that a client sees a gap exactly.
    prev_seq: int | None = None


class MessageUpdated(_Frame, tag="message.updated"):
    seq: int
    message: Message
    prev_seq: int | None = None


class MessageRejected(_Frame, tag="message.rejected"):
    client_id: str | None
    room: str | None
    reason: RejectReason
    detail: str
    # The message an edit or delete named.
    id: str | UnsetType | None = UNSET
    # Seconds until the next try may succeed; only with `rate_limited`.
    retry_after: float | UnsetType = UNSET


class Typing(_Frame, tag="typing"):
    room: str
    user: str
    state: bool


class Presence(_Frame, tag="presence"):
    user: str
    status: Literal["online", "offline"]
    last_seen: str | None


class Receipt(_Frame, tag="receipt"):
    room: str
    user: str
    seq: int
    kind: Literal["delivered", "read"]


class ResumeDone(_Frame, tag="resume.done"):
    rooms: dict[str, int]
    reload: list[str] = []


class RoomHead(_Frame, tag="room.head"):
    """The room's newest shown event is `seq` and this socket was not sent it (it was dropped
    on the way); a client whose cursor is below resumes the room (echostream.core.delivery)."""

    room: str
    seq: int


class MemberInfo(msgspec.Struct, kw_only=True):
    """One member of a room as its other members see them: presence and receipt watermarks."""

    username: str
    online: bool
    last_seen: str | None
    delivered: int | None
    read: int | None


class LastMessage(msgspec.Struct, kw_only=True):
    """A room's newest message, as the room list previews it."""

    id: str
    seq: int
    sender: str
    # Cut to PREVIEW_CHARS; empty when the message was deleted.
    body: str
    created_at: str
    # As on the message: a message of files alone is previewed by them.
    attachments: list[Any] = []


PREVIEW_CHARS = 140


class Room(msgspec.Struct, kw_only=True):
    """PROTOCOL.md's room object as one member sees it (a DM is named after the other person)."""

    id: str
    name: str
    kind: Literal["dm", "group"]
    members: list[str]
    # Who may add and remove members (a group's creator; both people of a DM).
    admins: list[str]
    last_seq: int | None
    unread: int
    member_info: list[MemberInfo]
    last_message: LastMessage | None
    activity_at: str


class RoomJoined(_Frame, tag="room.joined"):
    """The user became a member of `room` (created with them, a DM opened, added)."""

    room: Room


class RoomUpdated(_Frame, tag="room.updated"):
    """A room the user is in changed its members."""

    room: Room


class RoomLeft(_Frame, tag="room.left"):
    """The user left, or was removed from, the room with this id."""

    room: str


class Error(_Frame, tag="error"):
    code: str
    detail: str
    # The send, edit or delete that failed, so the client knows what to retry.
    client_id: str | UnsetType = UNSET
    id: str | UnsetType = UNSET


class Pong(_Frame, tag="pong"):
    pass


ServerFrame = (
    MessageAck
    | MessageNew
    | MessageUpdated
    | MessageRejected
    | Typing
    | Presence
    | Receipt
    | ResumeDone
    | RoomHead
    | RoomJoined
    | RoomUpdated
    | RoomLeft
    | Error
    | Pong
)

_encoder = msgspec.json.Encoder()


def encode(frame: ServerFrame) -> str:
    """The frame as the JSON text a client receives."""
    return _encoder.encode(frame).decode()


def to_builtins(frame: ServerFrame) -> dict[str, Any]:
    """The frame as plain data for the channel layer."""
    return msgspec.to_builtins(frame)


def from_builtins(data: dict[str, Any]) -> ServerFrame:
    """A frame that came through the channel layer; raises msgspec.ValidationError if it is not one."""
    return msgspec.convert(data, ServerFrame)  # type: ignore[arg-type]


def decode_strictly(text: str | bytes) -> ServerFrame:
    """A frame as a client reads it, allowing nothing outside the contract: a missing or
    mistyped field, an unknown one or a null where a field must be left out raises
    msgspec.ValidationError (msgspec.DecodeError for text that is no JSON)."""
    frame = msgspec.json.decode(text, type=ServerFrame)  # type: ignore[arg-type]
    # Read back, the frame is the same data unless something was dropped or defaulted.
    sent, read = msgspec.json.decode(text), to_builtins(frame)
    if sent != read:
        extra = sorted(set(_paths(sent)) ^ set(_paths(read)))
        raise msgspec.ValidationError(f"fields outside the contract or left out: {extra or 'values differ'}")
    return frame


def _paths(data: Any, prefix: str = "") -> list[str]:
    if not isinstance(data, dict):
        return [prefix]
    return [path for key, value in data.items() for path in _paths(value, f"{prefix}.{key}" if prefix else key)]
