"""Moderation's actions on submitted messages: check a submission, then pass it on or refuse it.

Filters (profanity, content rules, mutes and bans) plug in here in a later step;
today a submission is checked for its sender's membership and passed on unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.selectors import is_member
from echostream.core import events


@dataclass(frozen=True, kw_only=True)
class Refusal:
    reason: str
    detail: str


def check_submission(*, submission: events.MessageSubmitted) -> Refusal | None:
    """Why the submission may not be published, or None when it may."""
    # Membership may have ended between the socket's check and now.
    if not is_member(user_id=submission.actor, room_id=submission.room):
        return Refusal(reason="forbidden", detail="You are not a member of that room.")
    return None


def accepted(*, submission: events.MessageSubmitted) -> events.MessageCreated:
    data = submission.data
    return events.MessageCreated(
        id=submission.id,
        room=submission.room,
        occurred_at=submission.occurred_at,
        actor=submission.actor,
        data=events.CreatedData(
            client_id=data.client_id, body=data.body, sender=data.sender, attachments=data.attachments
        ),
    )


def rejection_frame(*, submission: events.MessageSubmitted, refusal: Refusal) -> dict[str, object]:
    return {
        "type": "message.rejected",
        "client_id": submission.data.client_id,
        "room": submission.room,
        "reason": refusal.reason,
        "detail": refusal.detail,
    }
