"""What members and moderators do about messages and people: reports, deletes, mutes, bans,
lifting a sanction, dismissing a report.

Each moderator's action writes one AuditEntry in the same transaction as its change, so the
audit log holds exactly what was done. A delete is not a database change: it goes through Kafka
like a sender's own (`message.deleted` on the inbound topic, the moderator as its actor), so
every open client gets `message.updated` and the history is updated by the bridge. Its audit
entry is written in a transaction that commits only once Kafka has acknowledged the delete.

Mutes and bans are rows (`Sanction`); what refuses a muted or banned sender's messages is the
moderation pipeline's. A room ban also takes the user out of the room (their sockets leave it)
and keeps them from being added again while it lasts; a site ban deactivates the account, which
closes every socket of the user (chat.signals) and refuses sign-in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from chat import selectors as chat_selectors
from chat import services as chat_services
from chat.errors import ChatError
from chat.models import Room
from moderation.models import AuditEntry, Report, Sanction

User = get_user_model()

REASON_MAX_CHARS = 1000


class ModerationError(ChatError):
    """An action refused; the JSON API and the admin show its `detail`."""


class MessageNotFound(ModerationError):
    # Strangers get the same answer for a message that exists as for one that does not.
    def __init__(self) -> None:
        super().__init__("not_found", "No such message.", status=404)


def check_reason(reason: str) -> str:
    """The reason, trimmed; ModerationError (`invalid`) unless it holds 1 to 1000 characters."""
    reason = reason.strip()
    if not reason:
        raise ModerationError("invalid", "Say why: the reason is empty.")
    if len(reason) > REASON_MAX_CHARS:
        raise ModerationError("invalid", f"A reason holds at most {REASON_MAX_CHARS} characters.")
    return reason


def _check_moderator(user: AbstractBaseUser) -> None:
    if not chat_selectors.is_moderator(user_id=str(user.pk)):
        raise ModerationError("forbidden", "Only a moderator (an active staff user) can do that.", status=403)


def active_sanctions(*, user: AbstractBaseUser | None = None) -> models.QuerySet[Sanction]:
    """Sanctions neither lifted nor run out."""
    now = timezone.now()
    found = Sanction.objects.filter(lifted_at__isnull=True).filter(
        models.Q(until__isnull=True) | models.Q(until__gt=now)
    )
    return found if user is None else found.filter(user=user)


def _storable(body: str) -> str:
    # A message written straight to a room topic may hold a NUL, which PostgreSQL refuses in text
    # and in JSON; the copy in a report or the audit log shows the replacement character instead,
    # so that the message can still be reported and deleted.
    return body.replace("\x00", "\ufffd")


def _audit(
    *,
    actor: AbstractBaseUser,
    action: AuditEntry.Kind,
    reason: str,
    target_user: AbstractBaseUser | None = None,
    room: Room | None = None,
    room_id: str | None = None,
    message_id: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        target_user=target_user,
        room_id=room.pk if room is not None else room_id,
        message_id=message_id,
        reason=reason,
        details=details or {},
    )


def _resolve(report: Report | None, *, moderator: AbstractBaseUser, status: Report.Status) -> None:
    if report is None or report.status != Report.Status.OPEN:
        return
    report.status, report.resolved_by, report.resolved_at = status, moderator, timezone.now()
    report.save(update_fields=["status", "resolved_by", "resolved_at"])


# --- Reports ------------------------------------------------------------------------


def do_report(*, reporter: AbstractBaseUser, room_id: str, message_id: str, reason: str) -> tuple[Report, bool]:
    """A member reports a message of their room: the open report, and whether this call made it
    (a second report of the same message by the same member while the first is open answers
    the first). MessageNotFound for a stranger to the room and an unknown message alike."""
    if not chat_selectors.is_member(user_id=str(reporter.pk), room_id=room_id):
        raise MessageNotFound()
    message = async_to_sync(chat_selectors.amessage_in_room)(room_id=room_id, message_id=message_id)
    if message is None or message["deleted"]:
        raise MessageNotFound()
    if message["sender_id"] == str(reporter.pk):
        raise ModerationError("invalid", "You cannot report your own message; delete it instead.")
    reason = check_reason(reason)
    existing = Report.objects.filter(reporter=reporter, message_id=message_id, status=Report.Status.OPEN).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            report = Report.objects.create(
                reporter=reporter,
                room_id=room_id,
                message_id=message_id,
                message_seq=message["seq"],
                message_sender=User.objects.filter(pk=message["sender_id"]).first(),
                message_body=_storable(message["body"]),
                reason=reason,
            )
    except IntegrityError:
        # The same member's other request made it a moment ago (the one-open-report constraint).
        return Report.objects.get(reporter=reporter, message_id=message_id, status=Report.Status.OPEN), False
    return report, True


def do_dismiss_report(*, moderator: AbstractBaseUser, report: Report, reason: str) -> None:
    _check_moderator(moderator)
    reason = check_reason(reason)
    if report.status != Report.Status.OPEN:
        raise ModerationError("invalid", f"That report is already {report.get_status_display()}.")
    with transaction.atomic():
        _resolve(report, moderator=moderator, status=Report.Status.DISMISSED)
        _audit(
            actor=moderator,
            action=AuditEntry.Kind.DISMISS_REPORT,
            reason=reason,
            target_user=report.message_sender,
            room_id=report.room_id,
            message_id=report.message_id,
            details={"report": report.pk},
        )


# --- Messages -------------------------------------------------------------------------


def do_delete_message(*, moderator: AbstractBaseUser, room_id: str, message_id: str, reason: str) -> None:
    """Deletes any message of any room, through Kafka as a sender's own delete is; every open
    report of the message is resolved as actioned. Returns once Kafka has the delete."""
    _check_moderator(moderator)
    reason = check_reason(reason)
    message = async_to_sync(chat_selectors.amessage_in_room)(room_id=room_id, message_id=message_id)
    if message is None:
        raise MessageNotFound()
    if message["deleted"]:
        raise ModerationError("invalid", "That message is already deleted.")
    change = chat_services.Change(
        room_id=room_id, message_id=message_id, message_client_id=message["client_id"], body=None
    )
    with transaction.atomic():
        _audit(
            actor=moderator,
            action=AuditEntry.Kind.DELETE_MESSAGE,
            reason=reason,
            target_user=User.objects.filter(pk=message["sender_id"]).first(),
            room_id=room_id,
            message_id=message_id,
            details={"seq": message["seq"], "sender": message["sender"], "body": _storable(message["body"])},
        )
        Report.objects.filter(message_id=message_id, status=Report.Status.OPEN).update(
            status=Report.Status.ACTIONED, resolved_by=moderator, resolved_at=timezone.now()
        )
        # Last, inside the transaction: a delete Kafka refuses (it raises) leaves no audit entry
        # and no report resolved.
        async_to_sync(chat_services.do_submit_change)(actor_id=str(moderator.pk), change=change)


# --- Sanctions -------------------------------------------------------------------------


def check_sanction(
    *,
    moderator: AbstractBaseUser,
    user: AbstractBaseUser,
    kind: Sanction.Kind,
    room: Room | None,
    until: datetime | None,
) -> None:
    """ModerationError unless the moderator may give the user this sanction."""
    _check_moderator(moderator)
    if user.pk == moderator.pk:
        raise ModerationError("invalid", "You cannot sanction yourself.")
    if kind == Sanction.Kind.MUTE and until is None:
        raise ModerationError("invalid", "Say when the mute ends.")
    if kind == Sanction.Kind.BAN and room is not None and room.kind != Room.Kind.GROUP:
        raise ModerationError("invalid", "A direct conversation is always its pair's: mute or ban from the site.")
    if kind == Sanction.Kind.BAN and room is None and until is not None:
        raise ModerationError("invalid", "A site ban lasts until it is lifted.")
    if until is not None and until <= timezone.now():
        raise ModerationError("invalid", "A sanction must end in the future.")


def do_mute(
    *,
    moderator: AbstractBaseUser,
    user: AbstractBaseUser,
    room: Room | None = None,
    until: datetime,
    reason: str,
    report: Report | None = None,
) -> Sanction:
    """The user may read but not send, in the room (or everywhere) until `until`; the report
    it answers, if any, is resolved as actioned."""
    check_sanction(moderator=moderator, user=user, kind=Sanction.Kind.MUTE, room=room, until=until)
    reason = check_reason(reason)
    with transaction.atomic():
        sanction = Sanction.objects.create(
            user=user, kind=Sanction.Kind.MUTE, room=room, reason=reason, until=until, created_by=moderator
        )
        _audit(
            actor=moderator,
            action=AuditEntry.Kind.MUTE,
            reason=reason,
            target_user=user,
            room=room,
            message_id=report.message_id if report else "",
            details={"sanction": sanction.pk, "until": until.isoformat(), **({"report": report.pk} if report else {})},
        )
        _resolve(report, moderator=moderator, status=Report.Status.ACTIONED)
    return sanction


def do_ban(
    *,
    moderator: AbstractBaseUser,
    user: AbstractBaseUser,
    room: Room | None = None,
    reason: str,
    until: datetime | None = None,
    report: Report | None = None,
) -> Sanction:
    """From a group room: the user is taken out of it (their sockets leave it) and cannot be
    added again while the ban lasts (until `until`, or until lifted). From the site: the
    account is deactivated until the ban is lifted, which closes every socket of the user."""
    check_sanction(moderator=moderator, user=user, kind=Sanction.Kind.BAN, room=room, until=until)
    reason = check_reason(reason)
    with transaction.atomic():
        sanction = Sanction.objects.create(
            user=user, kind=Sanction.Kind.BAN, room=room, reason=reason, until=until, created_by=moderator
        )
        details: dict[str, Any] = {"sanction": sanction.pk, "until": until.isoformat() if until else None}
        if room is not None:
            details["was_member"] = chat_services.do_expel_member(room=room, user=user)
        else:
            user.is_active = False
            # chat.signals closes the user's sockets once this commits.
            user.save(update_fields=["is_active"])
        if report is not None:
            details["report"] = report.pk
        _audit(
            actor=moderator,
            action=AuditEntry.Kind.BAN,
            reason=reason,
            target_user=user,
            room=room,
            message_id=report.message_id if report else "",
            details=details,
        )
        _resolve(report, moderator=moderator, status=Report.Status.ACTIONED)
    return sanction


def do_lift(*, moderator: AbstractBaseUser, sanction: Sanction, reason: str) -> None:
    """Ends a mute or ban now. A lifted site ban reactivates the account (unless another site
    ban still holds it); a lifted room ban lets room admins add the user again."""
    _check_moderator(moderator)
    reason = check_reason(reason)
    if sanction.lifted_at is not None:
        raise ModerationError("invalid", "That sanction is already lifted.")
    with transaction.atomic():
        sanction.lifted_at = timezone.now()
        sanction.save(update_fields=["lifted_at"])
        user = sanction.user
        reactivated = False
        site_ban = sanction.kind == Sanction.Kind.BAN and sanction.room_id is None
        if site_ban and not active_sanctions(user=user).filter(kind=Sanction.Kind.BAN, room__isnull=True).exists():
            user.is_active, reactivated = True, True
            user.save(update_fields=["is_active"])
        _audit(
            actor=moderator,
            action=AuditEntry.Kind.LIFT,
            reason=reason,
            target_user=user,
            room_id=sanction.room_id,
            details={"sanction": sanction.pk, "kind": sanction.kind, "reactivated": reactivated},
        )


def refuse_banned_member(room: Room, user: AbstractBaseUser) -> ChatError | None:
    """chat's member check: nobody is added to a room they are banned from."""
    if active_sanctions(user=user).filter(kind=Sanction.Kind.BAN, room=room).exists():
        return ModerationError("banned", "That user is banned from this room.", status=403)
    return None


# --- Rules and word lists ----------------------------------------------------------------


def do_record_rule_change(
    *, moderator: AbstractBaseUser, change: str, what: models.Model, fields: list[str] | None = None
) -> AuditEntry:
    """The audit entry of a change a moderator made to rules or word lists in the admin
    (`change`: added, changed or deleted), written in the admin's own transaction."""
    room = getattr(what, "room", None)
    return _audit(
        actor=moderator,
        action=AuditEntry.Kind.CHANGE_RULES,
        reason="",
        room=room if isinstance(room, Room) else None,
        details={
            "change": change,
            "model": what._meta.model_name,
            "object": str(what),
            "id": what.pk,
            **({"fields": fields} if fields else {}),
        },
    )
