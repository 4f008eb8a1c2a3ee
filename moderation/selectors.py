"""Moderation's reads."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
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


def _column(model: type, field: str) -> str:
    quote = connection.ops.quote_name
    return f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(field).column)}"


@functools.lru_cache(maxsize=256)
def _batch_sql(*, users: int, rooms: int) -> str:
    """One statement for a batch's three reads (`Lookups`), rows of (kind, first, second) as text.
    Written out: the ORM took four times as long to build it as the database took to answer.
    Keep it the same as `_in_force` and the filters of the other two."""
    user_list = ", ".join(["%s"] * users)
    room_list = ", ".join(["%s"] * rooms)
    table = connection.ops.quote_name
    return (
        f"SELECT 'user', CAST({_column(User, 'id')} AS TEXT), {_column(User, User.USERNAME_FIELD)}"
        f" FROM {table(User._meta.db_table)}"
        f" WHERE {_column(User, 'is_active')} = %s AND {_column(User, 'id')} IN ({user_list})"
        f" UNION ALL SELECT 'member', CAST({_column(Membership, 'user')} AS TEXT),"
        f" CAST({_column(Membership, 'room')} AS TEXT) FROM {table(Membership._meta.db_table)}"
        f" WHERE {_column(Membership, 'user')} IN ({user_list}) AND {_column(Membership, 'room')} IN ({room_list})"
        f" UNION ALL SELECT 'sanction', CAST({_column(Sanction, 'user')} AS TEXT),"
        f" CAST({_column(Sanction, 'id')} AS TEXT) FROM {table(Sanction._meta.db_table)}"
        f" WHERE {_column(Sanction, 'user')} IN ({user_list}) AND {_column(Sanction, 'lifted_at')} IS NULL"
        f" AND ({_column(Sanction, 'until')} IS NULL OR {_column(Sanction, 'until')} > %s)"
    )


def _batch_params(user_ids: list[str], room_ids: list[str], now: datetime) -> list[object]:
    user_pks = [int(user_id) for user_id in user_ids]
    return [True, *user_pks, *user_pks, *room_ids, *user_pks, connection.ops.adapt_datetimefield_value(now)]


class Lookups:
    """The reads that judging inbound events makes, for a batch judged together as of one
    moment, the batch's start (a sanction given meanwhile stops the next batch; the web checks
    sanctions on every send besides). The first question asks the database about every actor
    and room of the batch (`batch`) at once, in one statement whatever its size: the active
    users' usernames, their memberships in those rooms, and the sanctions in force on them
    (nearly always none; those are then read whole). An actor and room outside `batch` are
    asked about when first needed."""

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
        user_ids = sorted({user_id for user_id, _ in batch})
        room_ids = sorted({room_id for _, room_id in batch})
        sanction_ids = []
        with connection.cursor() as cursor:
            sql = _batch_sql(users=len(user_ids), rooms=len(room_ids))
            cursor.execute(sql, _batch_params(user_ids, room_ids, self.now))
            for kind, first, second in cursor.fetchall():
                if kind == "user":
                    self._usernames[first] = second
                elif kind == "member":
                    self._memberships.add((first, second))
                else:
                    sanction_ids.append(second)
        sanctions: dict[str, list[Sanction]] = {user_id: [] for user_id in user_ids}
        if sanction_ids:
            for sanction in Sanction.objects.filter(pk__in=sanction_ids):
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
