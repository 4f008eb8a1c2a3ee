"""Moderation's actions on inbound events: check each, then pass it on or refuse it.

Every submission, edit and delete is checked for its actor (an active user, who is the sender
the room is shown), its actor's membership (which may have ended since the socket checked it)
and the actor's sanctions (a mute stops sends and edits, a ban everything). The text of a
submission or an edit then goes through the filters (moderation.filters) under the room's
rules (moderation.rules): it is passed, censored (and labelled), flagged (delivered, and a
report opened once it is published) or refused with a detail that names the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from django.db import transaction
from django.utils import timezone

from chat import attachments as chat_attachments
from chat.selectors import is_moderator, room_exists
from chat.services import SendRefused
from echostream.core import events, wire
from moderation import filters, flood, rules
from moderation.models import Action, AuditEntry, Report, Sanction
from moderation.selectors import Lookups, asanctions_of, weightiest_in_force

CENSORED = events.ModerationLabel(action="censored")

Inbound = events.MessageSubmitted | events.MessageEdited | events.MessageDeleted


class Unprocessable(ValueError):
    """A record that decodes but that no web process would have written (a forgery, or an
    actor gone since): it is dead-lettered, and nobody is told."""


@dataclass(frozen=True, kw_only=True)
class Accepted:
    # The actor's username now, from the user table: what the room shows as the
    # sender, whatever the record claims.
    sender: str
    # The text to publish, when the filters changed it (None: as submitted).
    body: str | None = None
    flags: tuple[filters.Flag, ...] = ()
    # A submission's attachments, claimed for the message, with their metadata from MongoDB.
    attachments: tuple[events.AttachmentMeta, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Refusal:
    reason: wire.RejectReason
    detail: str


# The web stamps a submission's `occurred_at` just before it hands the record to Kafka: a record
# whose two times are further apart than this was not written by a web process. Wide, so that no
# send the web acknowledged (after waiting for Kafka, say) is ever refused, whatever the clocks.
OCCURRED_BEFORE_RECORD_SLACK = timedelta(days=1)
OCCURRED_AFTER_RECORD_SLACK = timedelta(hours=1)


def check_occurred_near_its_record(*, event: Inbound, recorded_at: datetime | None) -> None:
    """`Unprocessable` when the event's `occurred_at` is far from its record's time (the
    broker's, on a topic that keeps LogAppendTime): a message "sent" in 2000 written straight to
    the topic would be shown and kept with that date."""
    if recorded_at is None:
        return
    if not -OCCURRED_BEFORE_RECORD_SLACK <= event.occurred_at - recorded_at <= OCCURRED_AFTER_RECORD_SLACK:
        raise Unprocessable(
            f"occurred_at {event.occurred_at.isoformat()} is far from its record's time ({recorded_at.isoformat()})"
        )


def check_inbound(*, event: Inbound, lookups: Lookups | None = None, repeats: int | None = None) -> Accepted | Refusal:
    """Whether the event may be published to its room; `Unprocessable` for a record that
    cannot be taken at its word. `lookups`: the reads of the batch it is judged with;
    `repeats`: its flood count, when it was counted already (`count_repeats`)."""
    lookups = lookups or Lookups()
    if isinstance(event, events.MessageSubmitted | events.MessageEdited) and "\x00" in event.data.body:
        # The web refuses it (chat.services.check_body): a report or a flag of it could not be stored.
        raise Unprocessable("the body holds a NUL character")
    sender = lookups.active_username(user_id=event.actor, room_id=event.room)
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
    if not lookups.is_member(user_id=event.actor, room_id=event.room):
        return Refusal(reason="forbidden", detail="You are not a member of that room.")
    if isinstance(event, events.MessageEdited | events.MessageDeleted) and not events.is_senders_change(event):
        # The web checks the sender against the history before it writes a change; a change
        # that does not prove it was written by someone else.
        raise Unprocessable(f"{event.data.message_id} is not a message that actor {event.actor} sent")
    sanction = lookups.sanction_in_force(user_id=event.actor, room_id=event.room)
    # A muted user may still take back what they said; a banned one may do nothing.
    if sanction is not None and (sanction.kind == Sanction.Kind.BAN or not isinstance(event, events.MessageDeleted)):
        return Refusal(reason="moderation", detail=sanction_detail(sanction))
    if isinstance(event, events.MessageDeleted):
        return Accepted(sender=sender)
    outcome = filter_text(event=event, repeats=repeats)
    if outcome.rejected is not None:
        return Refusal(reason="moderation", detail=outcome.rejected)
    metadata: tuple[events.AttachmentMeta, ...] = ()
    if isinstance(event, events.MessageSubmitted) and event.data.attachments:
        try:
            metadata = claim_attachments(event=event)
        except chat_attachments.AttachmentTaken as exc:
            return Refusal(reason="invalid", detail=str(exc))
        except chat_attachments.AttachmentProblem as exc:
            # The web checked them before it wrote the record.
            raise Unprocessable(f"attachments of {event.id}: {exc}") from exc
    return Accepted(
        sender=sender, body=outcome.text if outcome.censored else None, flags=outcome.flags, attachments=metadata
    )


def claim_attachments(*, event: events.MessageSubmitted) -> tuple[events.AttachmentMeta, ...]:
    """The submission's attachments, checked against MongoDB and claimed for its message (again
    for a redelivered record, harmlessly); AttachmentProblem when it may not carry them."""
    return tuple(
        chat_attachments.run_with_own_client(
            lambda: chat_attachments.aclaim_for_message(
                sender_id=event.actor, room_id=event.room, message_id=event.id, attachment_ids=event.data.attachments
            )
        )
    )


def filter_text(
    *, event: events.MessageSubmitted | events.MessageEdited, repeats: int | None = None
) -> filters.Outcome:
    """The filters' outcome for the event's text under its room's rules (counting a submission
    towards flooding: once per message id, however often it is judged), unless `repeats` gives
    its count already (`count_repeats`)."""
    room_rules = rules.for_room(room_id=event.room)
    is_edit = isinstance(event, events.MessageEdited)
    if is_edit:
        repeats = None  # an edit repeats nothing
    elif repeats is None:
        (repeats,) = count_repeats(submissions=[event])
    return filters.run(event.data.body, room_rules, filters.Context(is_edit=is_edit, repeats=repeats))


def count_repeats(*, submissions: list[events.MessageSubmitted]) -> list[int | None]:
    """For each submission, in order, its flood count (None: it does not count towards flooding,
    under its room's rules), all counted in one round trip: a later one of the same text counts
    the earlier ones, as if each were counted when it is judged."""
    sightings = [_flood_sighting(submission, rules.for_room(room_id=submission.room)) for submission in submissions]
    counts = iter(flood.count_repeats([sighting for sighting in sightings if sighting is not None]))
    return [None if sighting is None else next(counts) for sighting in sightings]


def _flood_sighting(event: events.MessageSubmitted, room_rules: rules.Rules) -> flood.Sighting | None:
    # A message of attachments alone has no text to repeat: sending pictures one by one is no flood.
    if room_rules.flood == Action.ALLOW or not event.data.body.strip():
        return None
    return flood.Sighting(
        room_id=event.room,
        user_id=event.actor,
        normalised_text=filters.normalised(event.data.body),
        message_id=event.id,
        sent_at=event.occurred_at,
        window_seconds=room_rules.flood_window_seconds,
    )


def _when(moment: datetime) -> str:
    # In UTC: the sender's clients may be anywhere.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def sanction_detail(sanction: Sanction) -> str:
    """What a sanctioned sender is told: which sanction, where, until when, and why."""
    kind = "banned" if sanction.kind == Sanction.Kind.BAN else "muted"
    where = "in this room" if sanction.room_id else "on this site"
    until = f"until {_when(sanction.until)}" if sanction.until else "until a moderator lifts it"
    reason = f" Reason: {sanction.reason.strip()}" if sanction.reason.strip() else ""
    return f"Your message was not sent: you are {kind} {where} {until}.{reason}"


# Where a socket's memo keeps its user's sanctions (read once; forgotten when one is given or lifted).
SANCTIONS_MEMO = "moderation.sanctions"


async def check_send_allowed(sender_id: str, room_id: str, memo: dict[str, Any] | None) -> SendRefused | None:
    """The web tier's check (registered with chat.services.register_send_check): a muted or
    banned sender is refused at once, before anything reaches Kafka. One indexed query for the
    user's sanctions, kept in the socket's memo until one is given or lifted
    (moderation.signals); meanwhile, a moment after the commit, the worker refuses what passes."""
    now = timezone.now()
    sanctions = memo.get(SANCTIONS_MEMO) if memo is not None else None
    if sanctions is None:
        sanctions = await asanctions_of(user_id=sender_id, now=now)
        if memo is not None:
            memo[SANCTIONS_MEMO] = sanctions
    sanction = weightiest_in_force(sanctions, room_id=room_id, now=now)
    return None if sanction is None else SendRefused("moderation", sanction_detail(sanction))


def accepted(*, event: Inbound, verdict: Accepted) -> events.RoomEvent:
    """The room event that an accepted inbound event becomes."""
    if isinstance(event, events.MessageDeleted):
        return event
    label = CENSORED if verdict.body is not None else None
    body = event.data.body if verdict.body is None else verdict.body
    if isinstance(event, events.MessageEdited):
        return msgspec.structs.replace(event, data=msgspec.structs.replace(event.data, body=body, moderation=label))
    data = event.data
    return events.MessageCreated(
        id=event.id,
        room=event.room,
        occurred_at=event.occurred_at,
        actor=event.actor,
        data=events.CreatedData(
            client_id=data.client_id,
            body=body,
            sender=verdict.sender,
            attachments=list(verdict.attachments),
            moderation=label,
        ),
    )


def do_flag(
    *, event: events.MessageCreated | events.MessageEdited, seq: int | None, flags: tuple[filters.Flag, ...]
) -> None:
    """Opens a report (no reporter: the rules flagged it) on a published message, and writes the
    audit entry. A retry after a crash finds the open report and adds nothing."""
    message_id = event.id if isinstance(event, events.MessageCreated) else event.data.message_id
    reason = "Flagged by the rules: " + "; ".join(flag.reason for flag in flags)
    with transaction.atomic():
        exists = Report.objects.filter(
            reporter=None, message_id=message_id, message_body=event.data.body, status=Report.Status.OPEN
        ).exists()
        if exists:
            return
        Report.objects.create(
            reporter=None,
            room_id=event.room,
            message_id=message_id,
            message_seq=seq if isinstance(event, events.MessageCreated) else None,
            message_sender_id=event.actor,
            message_body=event.data.body,
            reason=reason,
        )
        AuditEntry.objects.create(
            actor=None,
            action=AuditEntry.Kind.FLAG,
            target_user_id=event.actor,
            room_id=event.room,
            message_id=message_id,
            reason=reason,
            details={"rules": [flag.rule for flag in flags], "edit": isinstance(event, events.MessageEdited)},
        )


def rejection_frame(*, event: Inbound, refusal: Refusal) -> wire.MessageRejected:
    if isinstance(event, events.MessageSubmitted):
        return wire.MessageRejected(
            client_id=event.data.client_id, room=event.room, reason=refusal.reason, detail=refusal.detail
        )
    return wire.MessageRejected(
        client_id=None, room=event.room, id=event.data.message_id, reason=refusal.reason, detail=refusal.detail
    )
