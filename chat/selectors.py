"""Reads of users, rooms and memberships."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from chat import cache, projector, recent, repository
from chat.errors import RoomNotFound
from chat.models import Membership, Room
from echostream.core import events, wire

User = get_user_model()


def rooms_of(*, user: AbstractBaseUser) -> QuerySet[Room]:
    return Room.objects.filter(memberships__user=user).prefetch_related("memberships__user").order_by("-created_at")


# Here and below, a value that cannot be a room id names no room: it is not sent to the database,
# which may refuse it outright (PostgreSQL takes no NUL in text) and fail a stranger's probe.
def room_of_member(*, user: AbstractBaseUser, room_id: str) -> Room:
    """The room, if `user` is a member; strangers learn nothing about it."""
    room = Room.objects.filter(pk=room_id, memberships__user=user).first() if events.is_room_id(room_id) else None
    if room is None:
        raise RoomNotFound()
    return room


def is_admin(*, user: AbstractBaseUser, room: Room) -> bool:
    return Membership.objects.filter(room=room, user=user, role=Membership.Role.ADMIN).exists()


async def ais_member(*, user_id: str, room_id: str) -> bool:
    return events.is_room_id(room_id) and await Membership.objects.filter(room_id=room_id, user_id=user_id).aexists()


def _moderator(user_id: str) -> QuerySet:
    # Moderators are the staff who use the Django admin.
    return User.objects.filter(pk=user_id, is_staff=True, is_active=True)


async def ais_moderator(*, user_id: str) -> bool:
    return await _moderator(user_id).aexists()


def is_moderator(*, user_id: str) -> bool:
    return _moderator(user_id).exists()


def is_member(*, user_id: str, room_id: str) -> bool:
    return events.is_room_id(room_id) and Membership.objects.filter(room_id=room_id, user_id=user_id).exists()


def room_exists(*, room_id: str) -> bool:
    return events.is_room_id(room_id) and Room.objects.filter(pk=room_id).exists()


async def aroom_ids_of(*, user_id: str) -> list[str]:
    return [room_id async for room_id in Membership.objects.filter(user_id=user_id).values_list("room_id", flat=True)]


async def aco_member_ids(*, user_id: str) -> list[str]:
    """Everyone who shares a room with the user (the user not included)."""
    rooms = Membership.objects.filter(user_id=user_id).values("room_id")
    others = Membership.objects.filter(room_id__in=rooms).exclude(user_id=user_id).values_list("user_id", flat=True)
    return sorted({str(other) async for other in others.distinct()})


async def ausernames_of(*, user_ids: list[str]) -> dict[str, str]:
    return {str(pk): name async for pk, name in User.objects.filter(pk__in=user_ids).values_list("pk", "username")}


def users_with_prefix(*, prefix: str, limit: int = 20) -> QuerySet:
    return User.objects.filter(username__istartswith=prefix, is_active=True).order_by("username")[:limit]


async def message_page(
    *, room_id: str, before: int | None, after: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    if after is None and limit < recent.size():
        cached = await recent.page(room_id=room_id, before=before, limit=limit)
        if cached is not None:
            return cached
    if after is not None and before is None and limit < recent.size():
        # Newer than what a client has: what the bridge just showed, which MongoDB may not have yet.
        cached = await recent.page_after(room_id=room_id, after=after, limit=limit)
        if cached is not None:
            return cached
    if after is None and before is None and limit < recent.size():
        # The newest page missed the cache: read enough to fill it for the next reader.
        newest, has_more = await repository.page(room_id=room_id, before=None, after=None, limit=recent.size())
        await recent.fill(room_id=room_id, newest=newest, complete=not has_more)
        # The cache now holds what MongoDB had and what the bridge showed since, which MongoDB
        # may not have yet (its store half runs apart from the fan-out): read the newer of each.
        cached = await recent.page(room_id=room_id, before=before, limit=limit)
        if cached is not None:
            return cached
        return [projector.to_api(document) for document in newest[-limit:]], has_more or len(newest) > limit
    documents, has_more = await repository.page(room_id=room_id, before=before, after=after, limit=limit)
    return [projector.to_api(document) for document in documents], has_more


async def newest_messages(room_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each room's newest message (API shape), for the rooms that have one: from the Redis cache
    of recent messages, else from MongoDB for the rooms it does not hold."""
    cached = await recent.newest(room_ids)
    found = {room_id: message for room_id, message in cached.items() if message is not None}
    stored = await repository.newest([room_id for room_id in room_ids if room_id not in cached])
    found.update((room_id, projector.to_api(document)) for room_id, document in stored.items())
    return found


def _newest_seqs(chain: dict[str, int | None], newest: dict[str, dict[str, Any]]) -> dict[str, int | None]:
    seqs = dict(chain)
    for room_id, seq in chain.items():
        if seq is None and room_id in newest:
            # No shown chain (nothing shown since Redis lost it): the newest message's seq.
            seqs[room_id] = newest[room_id]["seq"]
    return seqs


async def last_seqs(room_ids: list[str]) -> dict[str, int | None]:
    """Each room's newest seq: the last the bridge showed (the head of the room's chain in
    Redis), else the newest message in the history. A read: it writes nothing (only the
    bridge's fan-out moves the chain, which `prev_seq` hangs on)."""
    chain = await cache.last_seqs(room_ids)
    return _newest_seqs(chain, await newest_messages([room_id for room_id, seq in chain.items() if seq is None]))


# Read watermarks belong to presence (receipts); it plugs its reader in here so
# that chat can count unread messages without importing it.
ReadWatermarks = Callable[[str, list[str]], Awaitable[dict[str, int]]]
_read_watermarks: list[ReadWatermarks] = []


def register_read_watermarks(source: ReadWatermarks) -> None:
    _read_watermarks[:] = [source]


class MemberStatus(NamedTuple):
    """A room member's presence and receipt watermarks, as presence reports them."""

    online: bool
    last_seen: str | None
    delivered: int | None
    read: int | None


OFFLINE_UNKNOWN = MemberStatus(online=False, last_seen=None, delivered=None, read=None)

# Presence and watermarks belong to presence; it plugs its reader in here. The reader takes
# each room's member user ids, and the rooms that have events (only they can have receipt
# watermarks, so a new room's object needs no MongoDB), and answers per (room id, user id);
# anyone it leaves out is shown as OFFLINE_UNKNOWN.
MemberStatuses = Callable[[dict[str, list[str]], set[str]], Awaitable[dict[tuple[str, str], MemberStatus]]]
_member_statuses: list[MemberStatuses] = []


def register_member_statuses(source: MemberStatuses) -> None:
    _member_statuses[:] = [source]


async def member_statuses(
    members_by_room: dict[str, list[str]], *, rooms_with_events: set[str]
) -> dict[tuple[str, str], MemberStatus]:
    if not _member_statuses or not members_by_room:
        return {}
    return await _member_statuses[0](members_by_room, rooms_with_events)


async def unread_counts(*, user_id: str, last_seqs: dict[str, int | None]) -> dict[str, int]:
    """Messages from others after the user's read watermark, per room."""
    active = [room_id for room_id, seq in last_seqs.items() if seq is not None]
    marks = await _read_watermarks[0](user_id, active) if _read_watermarks and active else {}

    async def count(room_id: str) -> int:
        mark = marks.get(room_id, -1)
        if last_seqs[room_id] <= mark:
            return 0
        # The cache first: it holds what the bridge showed, which MongoDB may not have yet.
        cached = await recent.count_after(room_id=room_id, seq=mark, exclude_sender_id=user_id)
        if cached is not None:
            return cached
        return await repository.count_after(room_id=room_id, seq=mark, exclude_sender_id=user_id)

    # All rooms at once: each is a few look-ups, so waiting for them in turn would add up.
    counted = await asyncio.gather(*(count(room_id) for room_id in active))
    return {room_id: 0 for room_id in last_seqs} | dict(zip(active, counted, strict=True))


async def amessage_in_room(*, room_id: str, message_id: str) -> projector.MessageDoc | None:
    """The message as it stands now, if it is one of that room's; None otherwise. The live
    cache first: the bridge shows a message before MongoDB may have it (and while it is down)."""
    message = await recent.live_document(room_id=room_id, message_id=message_id) or await repository.get(message_id)
    if message is None or message["room"] != room_id:
        return None
    return message


async def messages_changed_after(*, room_id: str, seq: int) -> list[projector.MessageDoc]:
    return await repository.changed_after(room_id=room_id, seq=seq)


async def messages_by_id(message_ids: list[str]) -> dict[str, projector.MessageDoc]:
    return await repository.get_many(message_ids)


# --- The room object -------------------------------------------------------------


def rooms_with_members(*, room_ids: list[str]) -> list[Room]:
    """The rooms with their members loaded, as room_views needs them (it runs where the ORM may not)."""
    return list(Room.objects.filter(pk__in=room_ids).prefetch_related("memberships__user"))


class _RoomFacts(NamedTuple):
    """What a room looks like to each of its members alike."""

    room: Room
    # (user id, username), by username.
    members: list[tuple[str, str]]
    admins: list[str]
    last_seq: int | None
    last_message: wire.LastMessage | None
    activity_at: datetime
    member_info: list[wire.MemberInfo]


def _last_message(message: dict[str, Any] | None) -> wire.LastMessage | None:
    if message is None:
        return None
    return wire.LastMessage(
        id=message["id"],
        seq=message["seq"],
        sender=message["sender"],
        # A deleted message's API shape already has an empty body.
        body=message["body"][: wire.PREVIEW_CHARS],
        created_at=message["created_at"],
        attachments=message.get("attachments", []),
    )


async def _room_facts(rooms: list[Room]) -> list[_RoomFacts]:
    room_ids = [room.id for room in rooms]
    members = {
        room.id: sorted(
            ((str(membership.user_id), membership.user.get_username()) for membership in room.memberships.all()),
            key=lambda member: member[1],
        )
        for room in rooms
    }
    newest = await newest_messages(room_ids)
    seqs = _newest_seqs(await cache.last_seqs(room_ids), newest)
    statuses = await member_statuses(
        {room_id: [user_id for user_id, _ in people] for room_id, people in members.items()},
        rooms_with_events={room_id for room_id, seq in seqs.items() if seq is not None},
    )
    facts = []
    for room in rooms:
        message = newest.get(room.id)
        member_info = [
            wire.MemberInfo(username=username, **statuses.get((room.id, user_id), OFFLINE_UNKNOWN)._asdict())
            for user_id, username in members[room.id]
        ]
        facts.append(
            _RoomFacts(
                room=room,
                members=members[room.id],
                admins=sorted(
                    membership.user.get_username()
                    for membership in room.memberships.all()
                    if membership.role == Membership.Role.ADMIN
                ),
                last_seq=seqs[room.id],
                last_message=_last_message(message),
                activity_at=datetime.fromisoformat(message["created_at"]) if message else room.created_at,
                member_info=member_info,
            )
        )
    return facts


def _as_seen_by(facts: _RoomFacts, *, viewer_username: str, unread: int) -> wire.Room:
    room, usernames = facts.room, [username for _, username in facts.members]
    name = room.name
    if room.kind == Room.Kind.DM:
        # A direct conversation is called after the other person, as in any messenger.
        name = next((username for username in usernames if username != viewer_username), viewer_username)
    return wire.Room(
        id=room.id,
        name=name,
        kind=room.kind,
        members=usernames,
        admins=facts.admins,
        last_seq=facts.last_seq,
        unread=unread,
        member_info=facts.member_info,
        last_message=facts.last_message,
        activity_at=facts.activity_at.isoformat(),
    )


async def room_views(*, rooms: list[Room], viewer_id: str, viewer_username: str) -> list[wire.Room]:
    """The rooms (from rooms_of or rooms_with_members) as the viewer sees them, most recent
    activity first."""
    facts = sorted(await _room_facts(rooms), key=lambda room: room.activity_at, reverse=True)
    unread = await unread_counts(user_id=viewer_id, last_seqs={room.room.id: room.last_seq for room in facts})
    return [_as_seen_by(room, viewer_username=viewer_username, unread=unread[room.room.id]) for room in facts]


async def room_views_by_member(*, room: Room) -> dict[str, wire.Room]:
    """The room (from rooms_with_members) as each of its members sees it, by user id."""
    (facts,) = await _room_facts([room])
    views = {}
    for user_id, username in facts.members:
        unread = await unread_counts(user_id=user_id, last_seqs={room.id: facts.last_seq})
        views[user_id] = _as_seen_by(facts, viewer_username=username, unread=unread[room.id])
    return views
