"""The one event envelope, the same on Kafka, in the channel layer and on the socket.

`{id, type, room, seq?, occurred_at, actor, v, data}`; `type` picks the shape of
`data`. Decoding checks values, not only shapes (id formats, ranges, times, string
lengths, no lone surrogates), so that whatever a consumer gets from `decode` can be
stored and sent without raising; anything else is an `InvalidEvent`, never a crash
further down. Reading is tolerant: a known type with an extra field (written by a
newer process during a rolling deploy) is read and the field ignored; an unknown
type or envelope version is refused. Events built in code stay typed: the Struct
constructors refuse unknown fields, and the `__post_init__` checks run there too.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

ENVELOPE_VERSION = 1

# Message ids derive from (room, sender, client_id): a client's retry of the same
# send yields the same id, which is how every stage recognises the duplicate.
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1d3c52-4b8e-4d8c-9a57-2f7c0d6b5e11")

# The database's largest primary key (a signed 64-bit integer); a bigger "user id"
# would make every query that names it raise rather than find nobody.
MAX_USER_ID = 2**63 - 1
# The largest seq there can be: Kafka offsets, and MongoDB integers, are 64-bit.
MAX_SEQ = 2**63 - 1
# Far above the socket's MESSAGE_MAX_BODY_CHARS: the socket decides what users may send;
# this only keeps a forged record from being arbitrarily large.
MAX_BODY_CHARS = 100_000
MAX_CLIENT_ID_CHARS = 128
MAX_ATTACHMENTS = 32
# A year, in the time's own offset, that cannot overflow when converted to UTC (MongoDB
# stores UTC): the fixed window gives a replay the same answer as the live read had.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2199

# \A...\Z, not ^...$: `$` also matches before a trailing newline.
# new_event_id and message_id_for both make 32 lowercase hex digits.
HexId = Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-f]{32}\Z")]
# chat.models.new_room_id makes 16 hex digits; any short id of the characters a Kafka
# topic name allows (the dot left out: it separates the parts of topic names) is accepted,
# bounded by the rooms table's column.
RoomId = Annotated[str, msgspec.Meta(pattern=r"\A[A-Za-z0-9_-]{1,32}\Z")]
# A Django user pk as a decimal string; the range is checked in `_Envelope.__post_init__`.
UserId = Annotated[str, msgspec.Meta(pattern=r"\A[1-9][0-9]{0,18}\Z")]
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]
Body = Annotated[str, msgspec.Meta(max_length=MAX_BODY_CHARS)]
# Django's username column holds 150 characters.
Username = Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
AttachmentId = Annotated[str, msgspec.Meta(pattern=r"\A[A-Za-z0-9_-]{1,64}\Z")]
Attachments = Annotated[list[AttachmentId], msgspec.Meta(max_length=MAX_ATTACHMENTS)]
# An attachment's metadata as a room event carries it (filled by the moderation worker from
# MongoDB's `attachments`), so that the projector builds a message from its event alone.
Filename = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
ContentType = Annotated[str, msgspec.Meta(pattern=r"\A[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*\Z", max_length=127)]
Dimension = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
ByteSize = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Detail = Annotated[str, msgspec.Meta(max_length=2000)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
Moment = Annotated[datetime, msgspec.Meta(tz=True)]

_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidEvent(ValueError):
    """The bytes are not an event this version understands."""


class _Checked(msgspec.Struct, kw_only=True):
    def __post_init__(self) -> None:
        # A lone surrogate cannot be encoded as UTF-8, so neither Kafka nor MongoDB could
        # take the event. JSON input cannot carry one (msgspec refuses it); the channel
        # layer's builtins and code can.
        for name in self.__struct_fields__:
            value = getattr(self, name)
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and not text.isascii() and _SURROGATE.search(text):
                    raise ValueError(f"`{name}` holds a lone surrogate")


class SubmittedData(_Checked):
    client_id: ClientId
    body: Body
    sender: Username
    attachments: Attachments = []


# What moderation did to a message's text, e.g. "censored" (docs/protocol.md, "Moderation"). A
# word, not a closed list: a newer worker's new action must not make its events unreadable.
ModerationAction = Annotated[str, msgspec.Meta(pattern=r"\A[a-z_]{1,32}\Z")]


class ModerationLabel(_Checked):
    action: ModerationAction


class AttachmentMeta(_Checked):
    id: AttachmentId
    filename: Filename
    content_type: ContentType
    size: ByteSize
    width: Dimension | None = None
    height: Dimension | None = None
    # Whether a thumbnail was made (images only); its URL derives from the id.
    thumbnail: bool = False


# A record written before attachments carried metadata holds bare ids; they are read as
# metadata that names the id alone (no such record was accepted: sends refused attachments).
AttachmentsMeta = Annotated[list[AttachmentMeta | AttachmentId], msgspec.Meta(max_length=MAX_ATTACHMENTS)]


def _with_metadata(values: list[AttachmentMeta | str]) -> list[AttachmentMeta]:
    return [
        AttachmentMeta(id=value, filename="attachment", content_type="application/octet-stream", size=0)
        if isinstance(value, str)
        else value
        for value in values
    ]


def _labelled(value: ModerationLabel | str | None) -> ModerationLabel | None:
    # Early records could only carry a bare string; read it as the label's action.
    return ModerationLabel(action=value) if isinstance(value, str) else value


class CreatedData(_Checked):
    client_id: ClientId
    body: Body
    sender: Username
    attachments: AttachmentsMeta = []
    # None: the text is as its sender wrote it.
    moderation: ModerationLabel | Label | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.moderation = _labelled(self.moderation)
        self.attachments = _with_metadata(self.attachments)


class EditedData(_Checked):
    message_id: HexId
    body: Body
    # The changed message's client_id: with the room and the actor it derives the message
    # id, which proves that the actor sent the message (see `is_senders_change`).
    client_id: ClientId | None = None
    # What moderation did to the new text; it replaces the message's label (an edit written
    # before labels has none, and so shows its text as written).
    moderation: ModerationLabel | None = None


class DeletedData(_Checked):
    message_id: HexId
    client_id: ClientId | None = None


class RejectedData(_Checked):
    client_id: ClientId
    reason: Literal["moderation", "rate_limited", "forbidden", "invalid", "too_large"]
    detail: Detail


class _Envelope(_Checked, tag_field="type", kw_only=True):
    id: HexId
    room: RoomId
    occurred_at: Moment
    actor: UserId
    v: int = ENVELOPE_VERSION
    seq: Seq | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        # Decoding has checked the format already (UserId); code is trusted with it.
        if self.actor.isascii() and self.actor.isdigit() and int(self.actor) > MAX_USER_ID:
            raise ValueError(f"`actor` is not a user id: beyond {MAX_USER_ID}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("`occurred_at` has no time zone")
        if not EARLIEST_YEAR <= self.occurred_at.year <= LATEST_YEAR:
            raise ValueError(f"`occurred_at` is outside the years {EARLIEST_YEAR}..{LATEST_YEAR}")


class MessageSubmitted(_Envelope, tag="message.submitted", kw_only=True):
    data: SubmittedData


class MessageCreated(_Envelope, tag="message.created", kw_only=True):
    data: CreatedData


class MessageEdited(_Envelope, tag="message.edited", kw_only=True):
    data: EditedData


class MessageDeleted(_Envelope, tag="message.deleted", kw_only=True):
    data: DeletedData


class MessageRejected(_Envelope, tag="message.rejected", kw_only=True):
    data: RejectedData


Event = MessageSubmitted | MessageCreated | MessageEdited | MessageDeleted | MessageRejected
RoomEvent = MessageCreated | MessageEdited | MessageDeleted

_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def decode(raw: bytes | str) -> Event:
    """The event in `raw`, checked; `InvalidEvent` for anything else, whatever the bytes."""
    try:
        event = _decoder.decode(raw)
    # Invalid UTF-8 and a lone surrogate in a str escape msgspec's own errors, and so does
    # deep nesting in an ignored field.
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise InvalidEvent(str(exc)) from exc
    return _of_this_version(event)


class _Parties(msgspec.Struct):
    actor: UserId
    room: RoomId


_parties_decoder = msgspec.json.Decoder(_Parties)


def parties(raw: bytes | None) -> tuple[str, str] | None:
    """The (actor, room) a record names, when both are well formed; None otherwise. Cheaper
    than `decode` and no check of the rest: enough to read ahead for a batch of records."""
    try:
        named = _parties_decoder.decode(raw or b"")
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None
    return named.actor, named.room


def to_builtins(event: Event) -> dict:
    """The event as plain JSON-able values, for the channel layer."""
    return msgspec.to_builtins(event)


def from_builtins(value: dict) -> Event:
    try:
        event = msgspec.convert(value, Event)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise InvalidEvent(str(exc)) from exc
    return _of_this_version(event)


def _of_this_version(event: Event) -> Event:
    if event.v != ENVELOPE_VERSION:
        raise InvalidEvent(f"unsupported envelope version {event.v}")
    return event


def now() -> datetime:
    # Millisecond precision: what MongoDB stores, so live and stored times agree.
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_event_id() -> str:
    return uuid.uuid4().hex


def is_senders_change(event: MessageEdited | MessageDeleted) -> bool:
    """Whether the change names a message that its actor sent: message ids derive from
    (room, sender, client_id), so only the sender's id and the message's client_id give it."""
    client_id = event.data.client_id
    return client_id is not None and event.data.message_id == message_id_for(
        room_id=event.room, sender_id=event.actor, client_id=client_id
    )


_ATTACHMENT_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
_ROOM_ID = re.compile(r"\A[A-Za-z0-9_-]{1,32}\Z")


def is_attachment_id(value: object) -> bool:
    return isinstance(value, str) and _ATTACHMENT_ID.match(value) is not None


def is_room_id(value: object) -> bool:
    return isinstance(value, str) and _ROOM_ID.match(value) is not None


def message_id_for(*, room_id: str, sender_id: str, client_id: str) -> str:
    return uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{room_id}\x00{sender_id}\x00{client_id}").hex
