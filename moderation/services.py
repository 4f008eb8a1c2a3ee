"""Moderation's actions on inbound events: check each, then pass it on or refuse it.

Filters (profanity, content rules, mutes and bans) plug in here in a later step;
today a submission, edit or delete is checked for its actor's membership (which
may have ended since the socket checked it) and passed on unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.selectors import is_member, is_moderator
from echostream.core import events, wire

Inbound = events.MessageSubmitted | events.MessageEdited | events.MessageDeleted


@dataclass(frozen=True, kw_only=True)
class Refusal:
    reason: wire.RejectReason
    detail: str


def check_inbound(*, event: Inbound) -> Refusal | None:
    """Why the event may not be published to its room, or None when it may."""
    if is_member(user_id=event.actor, room_id=event.room):
        return None
    if isinstance(event, events.MessageDeleted) and is_moderator(user_id=event.actor):
        return None
    return Refusal(reason="forbidden", detail="You are not a member of that room.")


def accepted(*, event: Inbound) -> events.RoomEvent:
    """The room event that an accepted inbound event becomes."""
    if not isinstance(event, events.MessageSubmitted):
        return event
    data = event.data
    return events.MessageCreated(
        id=event.id,
        room=event.room,
        occurred_at=event.occurred_at,
        actor=event.actor,
        data=events.CreatedData(
            client_id=data.client_id, body=data.body, sender=data.sender, attachments=data.attachments
        ),
    )


def rejection_frame(*, event: Inbound, refusal: Refusal) -> wire.MessageRejected:
    if isinstance(event, events.MessageSubmitted):
        return wire.MessageRejected(
            client_id=event.data.client_id, room=event.room, reason=refusal.reason, detail=refusal.detail
        )
    return wire.MessageRejected(
        client_id=None, room=event.room, id=event.data.message_id, reason=refusal.reason, detail=refusal.detail
    )
