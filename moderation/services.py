"""Moderation's actions on inbound events: check each, then pass it on or refuse it.

Filters (profanity, content rules, mutes and bans) plug in here in a later step;
today a submission, edit or delete is checked for its actor (an active user, who
is the sender the room is shown) and its actor's membership (which may have ended
since the socket checked it), and passed on.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.selectors import is_member, is_moderator, room_exists
from echostream.core import events, wire
from moderation.selectors import active_username

Inbound = events.MessageSubmitted | events.MessageEdited | events.MessageDeleted


class Unprocessable(ValueError):
    """A record that decodes but that no web process would have written (a forgery, or an
    actor gone since): it is dead-lettered, and nobody is told."""


@dataclass(frozen=True, kw_only=True)
class Accepted:
    # The actor's username now, from the user table: what the room shows as the
    # sender, whatever the record claims.
    sender: str


@dataclass(frozen=True, kw_only=True)
class Refusal:
    reason: wire.RejectReason
    detail: str


def check_inbound(*, event: Inbound) -> Accepted | Refusal:
    """Whether the event may be published to its room; `Unprocessable` for a record that
    cannot be taken at its word."""
    sender = active_username(user_id=event.actor)
    if sender is None:
        raise Unprocessable(f"actor {event.actor} is not an active user")
    if isinstance(event, events.MessageSubmitted):
        expected = events.message_id_for(room_id=event.room, sender_id=event.actor, client_id=event.data.client_id)
        if event.id != expected:
            # The first event with an id wins in the history: a chosen id could shadow another's message.
            raise Unprocessable(f"message id {event.id} is not the one its room, actor and client_id give")
    # A room that does not exist has no topic; publishing to it would make one (or, where
    # topics are not made on demand, fail for ever).
    if (
        isinstance(event, events.MessageDeleted)
        and is_moderator(user_id=event.actor)
        and room_exists(room_id=event.room)
    ):
        return Accepted(sender=sender)
    if not is_member(user_id=event.actor, room_id=event.room):
        return Refusal(reason="forbidden", detail="You are not a member of that room.")
    if isinstance(event, events.MessageEdited | events.MessageDeleted) and not events.is_senders_change(event):
        # The web checks the sender against the history before it writes a change; a change
        # that does not prove it was written by someone else.
        raise Unprocessable(f"{event.data.message_id} is not a message that actor {event.actor} sent")
    return Accepted(sender=sender)


def accepted(*, event: Inbound, verdict: Accepted) -> events.RoomEvent:
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
            client_id=data.client_id, body=data.body, sender=verdict.sender, attachments=data.attachments
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
