"""Moderation's reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from chat.models import Membership
from moderation.models import Sanction

User = get_user_model()


def _in_force(now: datetime) -> QuerySet[Sanction]:
    """Every mute and ban in force at `now`, anyone's, the site's and every room's."""
    return Sanction.objects.filter(Q(until=None) | Q(until__gt=now), lifted_at=None)


def _weightiest(sanctions: list[Sanction]) -> Sanction | None:
    # A ban outweighs a mute; of two alike, the one that lasts longer (None: until lifted) is told.
    return max(
        sanctions,
        key=lambda s: (s.kind == Sanction.Kind.BAN, s.until is None, s.until or s.created_at),
        default=None,
    )


class Lookups:
    """The reads that judging inbound events makes, for a batch judged together as of one
    moment, the batch's start (a sanction given meanwhile stops the next batch; the web checks
    sanctions on every send besides). The first question asks the database about every actor
    and room of the batch (`batch`) at once, in three queries whatever its size: the active
    users' usernames, their memberships in those rooms, and the sanctions in force on them
    (nearly always none). An actor and room outside `batch` are asked about when first needed."""

    def __init__(self, batch: Iterable[tuple[str, str]] = ()) -> None:
        self.now = timezone.now()
        self._pending: set[tuple[str, str]] = set(batch)
        self._asked: set[tuple[str, str]] = set()
        self._usernames: dict[str, str] = {}
        self._memberships: set[tuple[str, str]] = set()
        self._sanctions: dict[str, list[Sanction]] = {}

    def _ask(self, user_id: str, room_id: str) -> None:
        key = (user_id, room_id)
        if key in self._asked:
            return
        # Left pending if the database fails, so that a retry asks about the whole batch again.
        batch = self._pending | {key}
        self._load(batch)
        self._asked |= batch
        self._pending.clear()

    def _load(self, batch: set[tuple[str, str]]) -> None:
        user_ids = {user_id for user_id, _ in batch}
        room_ids = {room_id for _, room_id in batch}
        active = User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", User.USERNAME_FIELD)
        self._usernames.update((str(pk), username) for pk, username in active)
        members = Membership.objects.filter(user_id__in=user_ids, room_id__in=room_ids).values_list(
            "user_id", "room_id"
        )
        self._memberships.update((str(user_id), room_id) for user_id, room_id in members)
        in_force = _in_force(self.now).filter(user_id__in=user_ids).order_by()
        sanctions: dict[str, list[Sanction]] = {user_id: [] for user_id in user_ids}
        for sanction in in_force:
            sanctions[str(sanction.user_id)].append(sanction)
        self._sanctions.update(sanctions)

    def active_username(self, *, user_id: str, room_id: str) -> str | None:
        """The actor's username; None for no such user, or one who may no longer act."""
        self._ask(user_id, room_id)
        return self._usernames.get(user_id)

    def is_member(self, *, user_id: str, room_id: str) -> bool:
        self._ask(user_id, room_id)
        return (user_id, room_id) in self._memberships

    def sanction_in_force(self, *, user_id: str, room_id: str) -> Sanction | None:
        self._ask(user_id, room_id)
        return weightiest_in_force(self._sanctions[user_id], room_id=room_id, now=self.now)


async def asanctions_of(*, user_id: str, now: datetime) -> list[Sanction]:
    """Every mute and ban of the user in force at `now`, the site's and every room's."""
    return [sanction async for sanction in _in_force(now).filter(user_id=user_id)]


def weightiest_in_force(sanctions: list[Sanction], *, room_id: str, now: datetime) -> Sanction | None:
    """Of these sanctions (`asanctions_of`, maybe read a while ago), the one that stops the user
    sending to the room at `now`, if any."""
    return _weightiest([s for s in sanctions if s.room_id in (None, room_id) and (s.until is None or s.until > now)])
