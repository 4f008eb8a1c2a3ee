"""Chat's actions: accounts, rooms, memberships, DMs, and submitting messages."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from chat import attachments as chat_attachments
from chat import backpressure, cache, ratelimit, recent
from chat.errors import ChatError, NotRoomAdmin
from chat.models import Membership, Room
from chat.selectors import (
    ais_member,
    ais_moderator,
    amessage_in_room,
    is_admin,
    room_views_by_member,
    rooms_with_members,
)
from echostream.core import events, groups, kafka, wire

logger = logging.getLogger(__name__)
User = get_user_model()

# --- Accounts -----------------------------------------------------------------


def check_signup(*, username: str, password: str) -> dict[str, list[str]]:
    """Field errors for a sign-up; empty when it may go ahead."""
    errors: dict[str, list[str]] = {}
    # As `create_user` will store it (NFKC): a full-width "vic" is stored as "vic", so it is taken when "vic" is.
    username = User.normalize_username(username)
    username_field = User._meta.get_field("username")
    try:
        username_field.clean(username, None)
    except ValidationError as exc:
        errors["username"] = list(exc.messages)
    if "username" not in errors and User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["That username is taken."]
    try:
        password_validation.validate_password(password, User(username=username))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    return errors


def do_signup(*, username: str, password: str) -> AbstractBaseUser:
    return User.objects.create_user(username=username, password=password)


# --- Rooms ----------------------------------------------------------------------


def _users_named(usernames: list[str]) -> list[AbstractBaseUser]:
    wanted = {name for name in usernames if name}
    found = list(User.objects.filter(username__in=wanted, is_active=True))
    missing = wanted - {user.get_username() for user in found}
    if missing:
        raise ChatError("unknown_user", f"No such user: {', '.join(sorted(missing))}.")
    return found


def _announce_on_commit(
    *,
    room_id: str,
    joined: Sequence[AbstractBaseUser] = (),
    left: Sequence[AbstractBaseUser] = (),
    new: bool = False,
) -> None:
    """Once the change is committed: `room.joined` to the sockets of each user who `joined`,
    `room.left` to those of each who `left`, `room.updated` to the room's other members, each
    room as its receiver sees it. Those who join or leave re-sync their room groups first."""
    joined_ids, left_ids = {str(user.pk) for user in joined}, [str(user.pk) for user in left]

    def announce() -> None:
        rooms = rooms_with_members(room_ids=[room_id])
        async_to_sync(_send_room_frames)(rooms=rooms, room_id=room_id, joined=joined_ids, left=left_ids, new=new)

    # Robust: the change is made whatever becomes of its frames (a client that missed one sees
    # the room as it is when it next lists its rooms), so a failure to send is logged, not raised.
    transaction.on_commit(announce, robust=True)


async def _send_room_frames(*, rooms: list[Room], room_id: str, joined: set[str], left: list[str], new: bool) -> None:
    if new:
        # A new room has no message: its empty cache is its whole history, so neither its room
        # object nor its first history page has to ask MongoDB (which scans for a room it lacks).
        await recent.mark_whole(room_id)
    for user_id in left:
        await groups.tell_rooms_changed(user_id, wire.RoomLeft(room=room_id))
    for room in rooms:
        for user_id, view in (await room_views_by_member(room=room)).items():
            if user_id in joined:
                await groups.tell_rooms_changed(user_id, wire.RoomJoined(room=view))
            else:
                await groups.send_to_user(user_id, wire.RoomUpdated(room=view))


def do_announce_membership_changes(
    *, room_id: str, joined: Sequence[AbstractBaseUser], left: Sequence[AbstractBaseUser]
) -> None:
    """Memberships changed outside this module's actions (a moderator's edit in the admin): the
    same frames as theirs, so a member taken out stops getting the room's events at once and
    one put in starts, instead of when their socket next re-reads its rooms."""
    _announce_on_commit(room_id=room_id, joined=joined, left=left)


def _delete_orphan_topic(room_id: str) -> None:
    """Deletes the topic made for a room that was never saved; nothing can have used it. A
    failure is logged, not raised: the room's own outcome is what the caller must hear."""
    try:
        kafka.delete_room_topic(room_id)
    except kafka.KafkaException as exc:
        logger.warning(
            "could not delete the orphan topic of unsaved room %s: %s", room_id, exc, extra={"room": room_id}
        )


def do_create_group(*, creator: AbstractBaseUser, name: str, member_usernames: list[str]) -> Room:
    name = name.strip()
    if not name:
        raise ChatError("invalid", "A group needs a name.")
    if len(name) > Room._meta.get_field("name").max_length:
        raise ChatError("invalid", "That name is too long.")
    others = [user for user in _users_named(member_usernames) if user.pk != creator.pk]
    room = Room(name=name, kind=Room.Kind.GROUP, created_by=creator)
    # The topic first: a room whose topic could not be made must not exist.
    kafka.ensure_room_topic(room.id)
    try:
        with transaction.atomic():
            room.save()
            Membership.objects.create(room=room, user=creator, role=Membership.Role.ADMIN)
            Membership.objects.bulk_create([Membership(room=room, user=user) for user in others])
            _announce_on_commit(room_id=room.id, joined=[creator, *others], new=True)
    except Exception:
        _delete_orphan_topic(room.id)
        raise
    return room


def do_open_dm(*, user: AbstractBaseUser, other_username: str) -> tuple[Room, bool]:
    """The pair's one direct conversation, and whether this call created it."""
    (other,) = _users_named([other_username]) if other_username else (None,)
    if other is None:
        raise ChatError("invalid", "Say whom to message.")
    if other.pk == user.pk:
        raise ChatError("invalid", "You cannot open a conversation with yourself.")
    low, high = sorted([user.pk, other.pk])
    dm_key = f"{low}:{high}"
    existing = Room.objects.filter(dm_key=dm_key).first()
    if existing is not None:
        return existing, False
    room = Room(kind=Room.Kind.DM, dm_key=dm_key, created_by=user)
    kafka.ensure_room_topic(room.id)
    try:
        with transaction.atomic():
            room.save()
            Membership.objects.bulk_create(
                [Membership(room=room, user=user, role=Membership.Role.ADMIN), Membership(room=room, user=other)]
            )
            _announce_on_commit(room_id=room.id, joined=[user, other], new=True)
    except IntegrityError:
        # The other side opened it at the same moment: theirs is the pair's room.
        _delete_orphan_topic(room.id)
        return Room.objects.get(dm_key=dm_key), False
    except Exception:
        _delete_orphan_topic(room.id)
        raise
    return room, True


# Top-floor apps (moderation's room bans) plug refusals of a new member in here, so that
# chat need not import them. A check answers the ChatError to raise, or None.
MemberCheck = Callable[[Room, AbstractBaseUser], ChatError | None]
_member_checks: list[MemberCheck] = []


def register_member_check(check: MemberCheck) -> None:
    if check not in _member_checks:
        _member_checks.append(check)


def do_add_member(*, actor: AbstractBaseUser, room: Room, username: str) -> Membership:
    if room.kind != Room.Kind.GROUP:
        raise ChatError("invalid", "A direct conversation has exactly two members.")
    if not is_admin(user=actor, room=room):
        raise NotRoomAdmin()
    (user,) = _users_named([username])
    for check in _member_checks:
        if (refusal := check(room, user)) is not None:
            raise refusal
    membership, created = Membership.objects.get_or_create(room=room, user=user)
    if created:
        _announce_on_commit(room_id=room.id, joined=[user])
    return membership


def do_remove_member(*, actor: AbstractBaseUser, room: Room, username: str) -> None:
    if room.kind != Room.Kind.GROUP:
        raise ChatError("invalid", "You cannot leave a direct conversation.")
    leaving = actor.get_username() == username
    if not leaving and not is_admin(user=actor, room=room):
        raise NotRoomAdmin()
    membership = Membership.objects.filter(room=room, user__username=username).select_related("user").first()
    if membership is None:
        raise ChatError("not_found", "That user is not a member.", status=404)
    membership.delete()
    _announce_on_commit(room_id=room.id, left=[membership.user])


def do_expel_member(*, room: Room, user: AbstractBaseUser) -> bool:
    """Takes the user out of the room whatever their role (a moderator's room ban): their
    sockets leave it (`room.left`), the others hear `room.updated`. Whether they were a member.
    Group rooms only: a direct conversation is always its pair's."""
    if room.kind != Room.Kind.GROUP:
        raise ChatError("invalid", "A direct conversation has exactly two members.")
    deleted, _ = Membership.objects.filter(room=room, user=user).delete()
    if deleted:
        _announce_on_commit(room_id=room.id, left=[user])
    return bool(deleted)


def do_delete_room(*, room: Room) -> None:
    """Deletes the room (a moderator's act, in the admin): every member's sockets leave it and
    their clients drop it (`room.left`), rather than showing a room whose sends are refused.
    Its topic and history are kept, as the record of what was said, and readable only by
    operators (`manage.py replay`); its cache of recent messages is dropped."""
    room_id = room.id
    with transaction.atomic():
        members = list(room.members.all())
        room.delete()
        _announce_on_commit(room_id=room_id, left=members)
        transaction.on_commit(lambda: async_to_sync(recent.forget)(room_id), robust=True)


# --- Sending messages ----------------------------------------------------------


class SendRefused(Exception):
    """A frame that will not be acted on; answered with `message.rejected`."""

    def __init__(self, reason: wire.RejectReason, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        # Seconds to wait before sending again (with `rate_limited`).
        self.retry_after = retry_after

    def frame(
        self, *, room: str | None, client_id: str | None = None, message_id: str | wire.UnsetType | None = wire.UNSET
    ) -> wire.MessageRejected:
        """The `message.rejected` that tells the client, naming what its frame named."""
        return wire.MessageRejected(
            client_id=client_id,
            room=room,
            id=message_id,
            reason=self.reason,
            detail=self.detail,
            retry_after=wire.UNSET if self.retry_after is None else self.retry_after,
        )


async def check_rate(*, user_id: str, kind: ratelimit.Kind) -> None:
    """Takes one of the user's tokens for this kind of frame; SendRefused (`rate_limited`,
    with `retry_after`) when none is left."""
    _refuse_if_waiting(await ratelimit.take_token(user_id=user_id, kind=kind))


def _refuse_if_waiting(wait: float | None) -> None:
    if wait is not None:
        raise SendRefused("rate_limited", f"Too many at once; try again in {wait:g} s.", retry_after=wait)


@dataclass(frozen=True, kw_only=True)
class Submission:
    room_id: str
    client_id: str
    body: str
    attachments: list[str]


# Top-floor apps (moderation's mutes and bans) plug refusals in here, so that a
# refused sender hears it at once without chat importing them. A check is called
# with (sender id, room id, memo) for every send and every edit: whatever puts text in a room.
# The memo is the sender's socket's (`frames.Connection.memo`; None without a socket): what a
# check read about the sender may be kept there, and is forgotten when it changes.
Memo = dict[str, Any]
SendCheck = Callable[[str, str, Memo | None], Awaitable[SendRefused | None]]
_send_checks: list[SendCheck] = []


def register_send_check(check: SendCheck) -> None:
    if check not in _send_checks:
        _send_checks.append(check)


async def _run_send_checks(*, sender_id: str, room_id: str, memo: Memo | None) -> None:
    for check in _send_checks:
        refusal = await check(sender_id, room_id, memo)
        if refusal is not None:
            raise refusal


# Characters that show as nothing beyond white space and the invisible format characters: fillers
# (Hangul, blank Braille) often used to make a name or a message look empty, variation selectors
# (Mongolian's too), the combining grapheme joiner and Khmer's inherent vowels.
_BLANK_LOOKING = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0") | frozenset(
    map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0), 0x180B, 0x180C, 0x180D, 0x180F])
)
# Format characters that do show a sign (Arabic number signs, the end of ayah, Syriac's
# abbreviation mark, Kaithi's number signs).
_VISIBLE_FORMAT = frozenset("\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u08e2\U000110bd\U000110cd")


def _shows_nothing(char: str) -> bool:
    if char.isspace() or char in _BLANK_LOOKING:
        return True
    return unicodedata.category(char) in ("Cf", "Cc") and char not in _VISIBLE_FORMAT


def is_blank(body: str) -> bool:
    """Whether a message's text shows nothing: white space, invisible format characters
    (zero-width spaces and joiners, direction marks, the BOM), control characters, variation
    selectors and fillers only."""
    return all(_shows_nothing(char) for char in body)


def check_body(body: str, *, max_body_chars: int, blank_refusal: str | None) -> None:
    """SendRefused unless a message's text may be stored and shown. `blank_refusal`: why a blank
    text is refused, or None when it may be blank (a send with attachments)."""
    if len(body) > max_body_chars:
        raise SendRefused("too_large", f"A message holds at most {max_body_chars} characters.")
    if "\x00" in body:
        # Not text: the moderators' records (PostgreSQL) cannot hold it.
        raise SendRefused("invalid", "A message cannot hold a NUL character (\\u0000).")
    if blank_refusal is not None and is_blank(body):
        raise SendRefused("invalid", blank_refusal)


async def check_member(*, user_id: str, room_id: str, known_member: bool) -> None:
    """SendRefused (`forbidden`) unless the user is a member of the room. `known_member`: the
    caller already knows it (a socket's synced rooms, `frames.Connection.member_of`), so the
    database is not asked; otherwise (a room the socket does not know yet, or no socket) it is.

    A socket learns of a change a moment after its commit (`rooms.changed`), so in that window it
    may still take a removed member's send. That send goes no further than the inbound topic: the
    moderation worker checks membership against the database again before anything reaches a room
    topic, and refuses it `forbidden` to the sender's sockets (moderation.services.check_inbound;
    moderation/tests/test_worker.py test_a_stranger_s_record_is_refused_not_dead_lettered)."""
    if known_member:
        return
    if not await ais_member(user_id=user_id, room_id=room_id):
        raise SendRefused("forbidden", "You are not a member of that room.")


async def check_message_send(
    *,
    sender_id: str,
    room_id: str,
    client_id: str,
    body: str,
    attachments: list[str],
    max_body_chars: int,
    known_member: bool = False,
    memo: Memo | None = None,
    waited: float = 0.0,
) -> Submission:
    """The submission, once the sender may make it (`known_member`: see check_member; `memo`:
    the socket's, for the send checks; `waited`: how long the send waited in the web before it
    was read, see backpressure.retry_after)."""
    await check_member(user_id=sender_id, room_id=room_id, known_member=known_member)
    check_body(
        body,
        max_body_chars=max_body_chars,
        blank_refusal=None if attachments else "A message needs text or an attachment.",
    )
    await _run_send_checks(sender_id=sender_id, room_id=room_id, memo=memo)
    if attachments:
        try:
            await chat_attachments.acheck_for_message(
                sender_id=sender_id, room_id=room_id, client_id=client_id, attachment_ids=attachments
            )
        except chat_attachments.AttachmentProblem as exc:
            raise SendRefused("invalid", str(exc)) from exc
    if (wait := await backpressure.retry_after(waited=waited)) is not None:
        raise SendRefused("rate_limited", "The service is busy; send again in a moment.", retry_after=wait)
    return Submission(room_id=room_id, client_id=client_id, body=body, attachments=attachments)


async def do_submit_message(*, sender_id: str, sender_name: str, submission: Submission) -> asyncio.Future[None]:
    """Put the message on the inbound topic, after the sender's sends before it. Returns as soon as
    the producer has it, so that the socket may go on to its next frame; the future resolves once
    Kafka has acknowledged it (and raises KafkaException if Kafka did not take it)."""
    message_id = events.message_id_for(room_id=submission.room_id, sender_id=sender_id, client_id=submission.client_id)
    taken = await ratelimit.take_token(
        user_id=sender_id, kind="send", unless_exists=cache.acked_send_key(message_id=message_id)
    )
    if taken == ratelimit.DONE_ALREADY:
        return _already_done()  # a retry of a send Kafka already has: neither produced nor counted again
    _refuse_if_waiting(taken)
    event = events.MessageSubmitted(
        id=message_id,
        room=submission.room_id,
        occurred_at=events.now(),
        actor=sender_id,
        data=events.SubmittedData(
            client_id=submission.client_id,
            body=submission.body,
            sender=sender_name,
            attachments=submission.attachments,
        ),
    )
    delivered = await kafka.enqueue_inbound(room_id=submission.room_id, value=events.encode(event))
    # A task, not a coroutine the caller may drop: the send is remembered as acknowledged even
    # if the socket closes meanwhile, so that its retry on a new socket is not produced twice.
    return asyncio.create_task(_remember_when_acknowledged(delivered, message_id=message_id))


async def _remember_when_acknowledged(delivered: asyncio.Future[kafka.Message], *, message_id: str) -> None:
    await delivered
    await cache.remember_acked_send(message_id)


def _already_done() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


# --- Editing and deleting -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Change:
    room_id: str
    message_id: str
    # The message's own client_id, which lets moderation check who sent it without MongoDB.
    message_client_id: str
    body: str | None  # None: a delete


async def check_message_change(
    *,
    actor_id: str,
    room_id: str,
    message_id: str,
    body: str | None,
    max_body_chars: int,
    known_member: bool = False,
    memo: Memo | None = None,
) -> Change:
    """An edit (with `body`) or a delete (without) that the actor may make (`known_member`: see
    check_member). Counts against the actor's rate limit first, so that a flood costs no lookups."""
    await check_rate(user_id=actor_id, kind="delete" if body is None else "edit")
    await check_member(user_id=actor_id, room_id=room_id, known_member=known_member)
    message = await amessage_in_room(room_id=room_id, message_id=message_id)
    if message is None:
        raise SendRefused("invalid", "No such message in that room.")
    if message["deleted"]:
        raise SendRefused("invalid", "That message was deleted.")
    is_sender = message["sender_id"] == actor_id
    if body is None:
        if not is_sender and not await ais_moderator(user_id=actor_id):
            raise SendRefused("forbidden", "Only the sender or a moderator deletes a message.")
    else:
        if not is_sender:
            raise SendRefused("forbidden", "Only the sender edits a message.")
        check_body(body, max_body_chars=max_body_chars, blank_refusal="A message needs text; delete it instead.")
        await _run_send_checks(sender_id=actor_id, room_id=room_id, memo=memo)
    return Change(room_id=room_id, message_id=message_id, message_client_id=message["client_id"], body=body)


async def do_submit_change(*, actor_id: str, change: Change) -> None:
    """Put the edit or delete on the inbound topic, after the sends before it; returns once Kafka has it."""
    event: events.MessageEdited | events.MessageDeleted
    common = {"id": events.new_event_id(), "room": change.room_id, "occurred_at": events.now(), "actor": actor_id}
    target = {"message_id": change.message_id, "client_id": change.message_client_id}
    if change.body is None:
        event = events.MessageDeleted(**common, data=events.DeletedData(**target))
    else:
        event = events.MessageEdited(**common, data=events.EditedData(**target, body=change.body))
    await kafka.send_inbound(room_id=change.room_id, value=events.encode(event))
