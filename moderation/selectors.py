"""Moderation's reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from chat.models import Membership
from moderation.models import Sanction

User = get_user_model()


def _in_force(*, user_id: str, room_id: str, now: datetime) -> QuerySet[Sanction]:
    # One query on the (user, lifted_at) index: the site's sanctions and the room's.
    return Sanction.objects.filter(
        Q(room=None) | Q(room_id=room_id),
        Q(until=None) | Q(until__gt=now),
        user_id=user_id,
        lifted_at=None,
    )


def _weightiest(sanctions: list[Sanction]) -> Sanction | None:
    # A ban outweighs a mute; of two alike, the one that lasts longer (None: until lifted) is told.
    return max(
        sanctions,
        key=lambda s: (s.kind == Sanction.Kind.BAN, s.until is None, s.until or s.created_at),
        default=None,
    )


def sanction_in_force(*, user_id: str, room_id: str, now: datetime | None = None) -> Sanction | None:
    """The mute or ban that stops the user sending to the room now, if any."""
    return _weightiest(list(_in_force(user_id=user_id, room_id=room_id, now=now or timezone.now())))


@dataclass(frozen=True)
class _Actor:
    username: str | None
    member: bool
    sanctioned: bool


class Lookups:
    """The reads that judging an inbound event makes: for an actor in a room, one query (their
    username if active, their membership, whether any sanction might stop them), the sanctions
    themselves only when one might; each asked of the database once for a batch judged
    together, as of one moment, the batch's start (a sanction given meanwhile stops the next
    batch; the web checks sanctions on every send besides)."""

    def __init__(self) -> None:
        self.now = timezone.now()
        self._actors: dict[tuple[str, str], _Actor] = {}
        self._sanctions: dict[tuple[str, str], Sanction | None] = {}

    def _actor(self, user_id: str, room_id: str) -> _Actor:
        key = (user_id, room_id)
        if key not in self._actors:
            row = (
                User.objects.filter(pk=user_id, is_active=True)
                .annotate(
                    member=Exists(Membership.objects.filter(user_id=OuterRef("pk"), room_id=room_id)),
                    sanctioned=Exists(_in_force(user_id=user_id, room_id=room_id, now=self.now)),
                )
                .values_list(User.USERNAME_FIELD, "member", "sanctioned")
                .first()
            )
            self._actors[key] = _Actor(*row) if row is not None else _Actor(None, False, False)
        return self._actors[key]

    def active_username(self, *, user_id: str, room_id: str) -> str | None:
        """The actor's username; None for no such user, or one who may no longer act."""
        return self._actor(user_id, room_id).username

    def is_member(self, *, user_id: str, room_id: str) -> bool:
        return self._actor(user_id, room_id).member

    def sanction_in_force(self, *, user_id: str, room_id: str) -> Sanction | None:
        key = (user_id, room_id)
        if key not in self._sanctions:
            might = self._actor(user_id, room_id).sanctioned
            self._sanctions[key] = sanction_in_force(user_id=user_id, room_id=room_id, now=self.now) if might else None
        return self._sanctions[key]


async def asanctions_of(*, user_id: str, now: datetime) -> list[Sanction]:
    """Every mute and ban of the user in force at `now`, the site's and every room's."""
    in_force = Sanction.objects.filter(Q(until=None) | Q(until__gt=now), user_id=user_id, lifted_at=None)
    return [sanction async for sanction in in_force]


def weightiest_in_force(sanctions: list[Sanction], *, room_id: str, now: datetime) -> Sanction | None:
    """Of these sanctions (`asanctions_of`, maybe read a while ago), the one that stops the user
    sending to the room at `now`, if any."""
    return _weightiest([s for s in sanctions if s.room_id in (None, room_id) and (s.until is None or s.until > now)])
