"""Moderation's reads."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from moderation.models import Sanction

User = get_user_model()


def active_username(*, user_id: str) -> str | None:
    """The user's current username; None for no such user, or one who may no longer act."""
    return User.objects.filter(pk=user_id, is_active=True).values_list(User.USERNAME_FIELD, flat=True).first()


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


async def asanction_in_force(*, user_id: str, room_id: str, now: datetime | None = None) -> Sanction | None:
    found = [s async for s in _in_force(user_id=user_id, room_id=room_id, now=now or timezone.now())]
    return _weightiest(found)
