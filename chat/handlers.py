"""Chat's socket frames: parse, check, then call one action."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from django.conf import settings

from chat import services
from echostream.core import events, frames, metrics, wire
from echostream.core.kafka import KafkaException

logger = logging.getLogger(__name__)


class SendFrame(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: str
    room: str
    client_id: str
    body: str
    attachments: list[str] = []


Reject = Callable[[services.SendRefused], Awaitable[None]]


async def _act(action: Callable[[], Awaitable[None]], *, reject: Reject, what: str, room: str) -> None:
    """Runs a checked action; a refusal goes back to the client, Kafka's silence becomes `unavailable`."""
    try:
        await action()
    except services.SendRefused as refusal:
        await reject(refusal)
    except KafkaException as exc:
        raise _unavailable(exc, what=what, room=room) from exc


def _unavailable(exc: KafkaException, *, what: str, room: str) -> frames.FrameError:
    logger.warning(
        "%s not acknowledged by Kafka: %s", what, exc, extra={"room": room if events.is_room_id(room) else None}
    )
    return frames.FrameError("unavailable", "Nothing was stored; try again.")


def _rejecter(connection: frames.Connection, frame: dict[str, Any], *, client_id: str | None) -> Reject:
    """Answers a refused frame with `message.rejected`, naming what the frame named."""
    room = _string(frame, "room")
    # An edit or delete names its message instead of a client_id.
    message_id = wire.UNSET if frame["type"] == "message.send" else _string(frame, "id")

    async def reject(refusal: services.SendRefused) -> None:
        await connection.send_frame(refusal.frame(room=room, client_id=client_id, message_id=message_id))

    return reject


Shape = TypeVar("Shape", bound=msgspec.Struct)


async def _parsed(frame: dict[str, Any], shape: type[Shape], reject: Reject) -> Shape | None:
    try:
        return msgspec.convert(frame, shape)
    except msgspec.ValidationError as exc:
        await reject(services.SendRefused("invalid", str(exc)))
        return None


def _string(frame: dict[str, Any], name: str) -> str | None:
    value = frame.get(name)
    return value if isinstance(value, str) else None


async def _learn_room(connection: frames.Connection, room_id: str, *, known: bool) -> None:
    """After the database said the user is a member of a room the socket did not know (one
    whose `room.joined` is still on its way): re-syncs the socket now, so that its next frame
    there asks no database, and so that it is in the room's group before this frame's message
    is shown there (else it would miss it until the room.joined's own re-sync)."""
    if not known:
        await connection.sync_rooms()


def _client_id_of(frame: dict[str, Any]) -> str | None:
    client_id = frame.get("client_id")
    return client_id if isinstance(client_id, str) and client_id else None


@frames.register("message.send")
async def handle_message_send(connection: frames.Connection, frame: dict[str, Any]) -> None:
    received = time.perf_counter()
    client_id = _client_id_of(frame)
    if client_id is None or len(client_id) > 128:
        raise frames.FrameError("invalid_frame", "message.send needs a client_id: a non-empty string of at most 128.")
    reject = _rejecter(connection, frame, client_id=client_id)
    send = await _parsed(frame, SendFrame, reject)
    if send is None:
        return

    what = f"message.send {client_id}"

    async def acknowledge(acknowledged: Awaitable[None]) -> None:
        try:
            await acknowledged
        except KafkaException as exc:
            raise _unavailable(exc, what=what, room=send.room) from exc
        await connection.send_frame(wire.MessageAck(client_id=client_id, room=send.room))
        metrics.message_accepted(seconds=time.perf_counter() - received)

    async def submit() -> None:
        known = connection.member_of(send.room)
        submission = await services.check_message_send(
            sender_id=connection.user_id,
            room_id=send.room,
            client_id=send.client_id,
            body=send.body,
            attachments=send.attachments,
            max_body_chars=settings.MESSAGE_MAX_BODY_CHARS,
            known_member=known,
            memo=connection.memo,
            waited=connection.waited,
        )
        await _learn_room(connection, send.room, known=known)
        acknowledged = await services.do_submit_message(
            sender_id=connection.user_id, sender_name=connection.username, submission=submission
        )
        # The ack waits for Kafka while the socket reads its next frames: a member who sends
        # several messages at once has them all on their way, not one per Kafka round trip.
        await connection.finish_later(frame, acknowledge(acknowledged))

    await _act(submit, reject=reject, what=what, room=send.room)


class EditFrame(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: str
    room: str
    id: str
    body: str


class DeleteFrame(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: str
    room: str
    id: str


async def _change(connection: frames.Connection, frame: dict[str, Any], shape: type[EditFrame | DeleteFrame]) -> None:
    reject = _rejecter(connection, frame, client_id=None)
    request = await _parsed(frame, shape, reject)
    if request is None:
        return

    async def submit() -> None:
        known = connection.member_of(request.room)
        change = await services.check_message_change(
            actor_id=connection.user_id,
            room_id=request.room,
            message_id=request.id,
            body=request.body if isinstance(request, EditFrame) else None,
            max_body_chars=settings.MESSAGE_MAX_BODY_CHARS,
            known_member=known,
            memo=connection.memo,
        )
        await _learn_room(connection, request.room, known=known)
        await services.do_submit_change(actor_id=connection.user_id, change=change)

    await _act(submit, reject=reject, what=f"{frame['type']} of {request.id}", room=request.room)


@frames.register("message.edit")
async def handle_message_edit(connection: frames.Connection, frame: dict[str, Any]) -> None:
    await _change(connection, frame, EditFrame)


@frames.register("message.delete")
async def handle_message_delete(connection: frames.Connection, frame: dict[str, Any]) -> None:
    await _change(connection, frame, DeleteFrame)
