"""The one event envelope, the same on Kafka, in the channel layer and on the socket.

`{id, type, room, seq?, occurred_at, actor, v, data}`; `type` picks the shape of
`data`. Decoding is strict: an unknown type or field is an `InvalidEvent`, never
a crash further down.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import msgspec

ENVELOPE_VERSION = 1

# Message ids derive from (room, sender, client_id): a client's retry of the same
# send yields the same id, which is how every stage recognises the duplicate.
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1d3c52-4b8e-4d8c-9a57-2f7c0d6b5e11")


class InvalidEvent(ValueError):
    """The bytes are not an event this version understands."""


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SubmittedData(_Strict):
    client_id: str
    body: str
    sender: str
    attachments: list[str] = []


class CreatedData(_Strict):
    client_id: str
    body: str
    sender: str
    attachments: list[str] = []
    moderation: str | None = None


class EditedData(_Strict):
    message_id: str
    body: str


class DeletedData(_Strict):
    message_id: str


class RejectedData(_Strict):
    client_id: str
    reason: Literal["moderation", "rate_limited", "forbidden", "invalid", "too_large"]
    detail: str


class _Envelope(_Strict, tag_field="type", kw_only=True):
    id: str
    room: str
    occurred_at: datetime
    actor: str
    v: int = ENVELOPE_VERSION
    seq: int | None = None


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
    try:
        event = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidEvent(str(exc)) from exc
    if event.v != ENVELOPE_VERSION:
        raise InvalidEvent(f"unsupported envelope version {event.v}")
    return event


def to_builtins(event: Event) -> dict:
    """The event as plain JSON-able values, for the channel layer."""
    return msgspec.to_builtins(event)


def from_builtins(value: dict) -> Event:
    try:
        return msgspec.convert(value, Event)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(str(exc)) from exc


def now() -> datetime:
    # Millisecond precision: what MongoDB stores, so live and stored times agree.
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_event_id() -> str:
    return uuid.uuid4().hex


def message_id_for(*, room_id: str, sender_id: str, client_id: str) -> str:
    return uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{room_id}\x00{sender_id}\x00{client_id}").hex
