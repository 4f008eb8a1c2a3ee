"""Presence and typing in Redis; the only module that knows their keys and TTLs.

Presence: one sorted set per user of live connections, scored by when each expires; a
user is online while any connection's heartbeat is fresh, so a tab or a process that died
without closing its sockets drops out by itself after the TTL. A second sorted set, of the
users whose status was last *announced* as online (scored by their latest expiry), makes
each change of status happen exactly once, however many processes see it: the Lua scripts
below move a user in or out of it atomically and say whether they did, and only the caller
that moved them announces the change.

A reconnect loop (a socket opened and closed over and over) would send every co-member an
`online` and an `offline` frame per cycle. So each user's announcements of `online` are counted
over settings.PRESENCE_FLAP_WINDOW_SECONDS: past settings.PRESENCE_FLAP_ANNOUNCEMENTS, the last
connection's close announces nothing and leaves the user in the announced set as if that
connection were still alive until its TTL ran out (scored `now + TTL`); a reconnect meanwhile
announces nothing either, and if none comes the sweep announces `offline`, with `last_seen`
the close, within a TTL and a sweep period. The final status is always told; only its timing
moves, and only for a user who flaps.

Typing: one short-lived key per (room, user), naming the connection that typed last, so
that a socket that closes can clear its user's typing state without clearing another tab's.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings

from echostream.core import redis

# Long enough to say "last seen 3 months ago"; a user unseen for longer shows as never seen.
LAST_SEEN_TTL_SECONDS = 400 * 24 * 3600
TYPING_TTL_SECONDS = 6

# KEYS: the user's connections, the announced-online set, the user's last-seen key, the
# user's count of recent online announcements.
# ARGV: connection id, now, its expiry, the connections key's TTL, user id, the count's window.
# Returns 1 when the user was not announced online before (so is now: announce it).
_MARK_ALIVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local announced = redis.call('ZSCORE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[5])
if announced then return 0 end
if redis.call('INCR', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], ARGV[6]) end
return 1
"""

# KEYS: the user's connections. ARGV: connection id, now, its expiry, the key's TTL, the most
# connections the user may have. Returns 1 when the connection is (now) one of the user's live
# ones, 0 when the user has the most already. Announcing is left to _MARK_ALIVE.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: as _MARK_ALIVE's.
# ARGV: connection id, now, user id, last-seen TTL, the presence TTL, how many online
# announcements within the window a user may have before their closes are held.
# Returns 1 when this took the user's last live connection (announce them offline).
_MARK_GONE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
if tonumber(redis.call('GET', KEYS[4]) or '0') > tonumber(ARGV[6]) then
  redis.call('ZADD', KEYS[2], 'XX', tonumber(ARGV[2]) + tonumber(ARGV[5]), ARGV[3])
  return 0
end
if redis.call('ZREM', KEYS[2], ARGV[3]) == 0 then return 0 end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
return 1
"""

# KEYS: the announced-online set. ARGV: now, the key prefix of connections and of last
# seen, the presence TTL, the last-seen TTL.
# Returns the users whose every connection expired (announce them offline). Keys are built
# here from the prefix, which a single Redis (not a cluster) allows.
_SWEEP = """
local gone = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES')
for i = 1, #due, 2 do
  local user, expired = due[i], tonumber(due[i + 1])
  local connections = ARGV[2] .. user
  redis.call('ZREMRANGEBYSCORE', connections, '-inf', ARGV[1])
  local newest = redis.call('ZRANGE', connections, -1, -1, 'WITHSCORES')
  if #newest == 0 then
    redis.call('ZREM', KEYS[1], user)
    redis.call('SET', ARGV[3] .. user, tostring(expired - tonumber(ARGV[4])), 'EX', ARGV[5])
    table.insert(gone, user)
  else
    redis.call('ZADD', KEYS[1], newest[2], user)
  end
end
return gone
"""


def _connections_key(user_id: str) -> str:
    return redis.key("presence", user_id)


def _announced_key() -> str:
    return redis.key("presence-announced")


def _last_seen_key(user_id: str) -> str:
    return redis.key("presence-last-seen", user_id)


def _flaps_key(user_id: str) -> str:
    return redis.key("presence-flaps", user_id)


def _typing_key(room_id: str, user_id: str) -> str:
    return redis.key("typing", room_id, user_id)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


async def admit(*, user_id: str, connection_id: str, most: int) -> bool:
    """Counts the connection among the user's live ones, unless they have `most` already
    (counted atomically: connections opened at once cannot all pass)."""
    ttl = settings.PRESENCE_TTL_SECONDS
    now = time.time()
    admitted = await redis.client().eval(_ADMIT, 1, _connections_key(user_id), connection_id, now, now + ttl, ttl, most)
    return bool(admitted)


async def mark_alive(*, user_id: str, connection_id: str) -> bool:
    """A heartbeat of one connection; True when it made the user online."""
    ttl = settings.PRESENCE_TTL_SECONDS
    now = time.time()
    keys = [_connections_key(user_id), _announced_key(), _last_seen_key(user_id), _flaps_key(user_id)]
    came_online = await redis.client().eval(
        _MARK_ALIVE,
        len(keys),
        *keys,
        connection_id,
        now,
        now + ttl,
        ttl,
        user_id,
        settings.PRESENCE_FLAP_WINDOW_SECONDS,
    )
    return bool(came_online)


async def mark_gone(*, user_id: str, connection_id: str) -> str | None:
    """One connection closed; when it was the user's last, when they were last seen."""
    now = time.time()
    keys = [_connections_key(user_id), _announced_key(), _last_seen_key(user_id), _flaps_key(user_id)]
    went = await redis.client().eval(
        _MARK_GONE,
        len(keys),
        *keys,
        connection_id,
        now,
        user_id,
        LAST_SEEN_TTL_SECONDS,
        settings.PRESENCE_TTL_SECONDS,
        settings.PRESENCE_FLAP_ANNOUNCEMENTS,
    )
    return _iso(now) if went else None


async def sweep_expired() -> dict[str, str]:
    """Users whose connections all expired without closing (their process died), with when
    they were last seen; each is returned by one sweep only, whichever process runs it."""
    gone = await redis.client().eval(
        _SWEEP,
        1,
        _announced_key(),
        time.time(),
        _connections_key(""),
        _last_seen_key(""),
        settings.PRESENCE_TTL_SECONDS,
        LAST_SEEN_TTL_SECONDS,
    )
    if not gone:
        return {}
    return {user_id: seen for user_id, seen in (await last_seen_of(list(gone))).items() if seen is not None}


async def online_user_ids(user_ids: list[str]) -> set[str]:
    if not user_ids:
        return set()
    now = time.time()
    async with redis.client().pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zcount(_connections_key(user_id), now, "+inf")
        counts = await pipe.execute()
    return {user_id for user_id, count in zip(user_ids, counts, strict=True) if count}


async def last_seen_of(user_ids: list[str]) -> dict[str, str | None]:
    """When each user was last seen (ISO 8601), None when never, or not within the TTL."""
    if not user_ids:
        return {}
    stamps = await redis.client().mget([_last_seen_key(user_id) for user_id in user_ids])
    return {user_id: _iso(float(stamp)) if stamp else None for user_id, stamp in zip(user_ids, stamps, strict=True)}


async def start_typing(*, room_id: str, user_id: str, connection_id: str) -> None:
    await redis.client().set(_typing_key(room_id, user_id), connection_id, ex=TYPING_TTL_SECONDS)


async def stop_typing(*, room_id: str, user_id: str, connection_id: str | None = None) -> bool:
    """Clears the user's typing state in the room (only if `connection_id` set it last, when
    given); True when there was one to clear."""
    key = _typing_key(room_id, user_id)
    if connection_id is None:
        return bool(await redis.client().delete(key))
    # Atomic compare-and-delete: another tab's newer typing state stays.
    cleared = await redis.client().eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        1,
        key,
        connection_id,
    )
    return bool(cleared)
