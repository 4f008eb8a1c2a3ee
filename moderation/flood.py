"""Flood counting: how often a user sent the same text to a room within a window.

The only module with the flood keys: per (room, user, normalised text) a sorted set of message
ids scored by the time each was sent, trimmed to the window and expiring with it. Counting by
message id makes a retry harmless: the worker may judge the same inbound record twice after a
crash (at-least-once), and a message id already in the set does not count again. Scores are
the events' `occurred_at` (set by the web when it took the message), so a worker catching up
on a backlog counts repeats as the sender made them, not as it reads them.

The worker counts a batch's submissions together, in one round trip, before it judges them
(`count_repeats`): a submission refused for something else (its sender muted, say) counts too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from echostream.core import redis

# KEYS[1]: the set; ARGV: message id, its time (ms), the window (ms). Returns the number of
# messages in the window that ends at this one, this one included.
_COUNT = """
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
local at = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (at - window))
redis.call('PEXPIRE', KEYS[1], window * 2)
return redis.call('ZCOUNT', KEYS[1], '(' .. (at - window), at)
"""


def _key(*, room_id: str, user_id: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return redis.key("flood", room_id, user_id, digest)


@dataclass(frozen=True, kw_only=True)
class Sighting:
    """A submission as flooding sees it."""

    room_id: str
    user_id: str
    normalised_text: str
    message_id: str
    sent_at: datetime
    window_seconds: int


def count_repeats(sightings: list[Sighting]) -> list[int]:
    """Counts each message (once, however often it is counted) and returns, for each, how many
    messages of its text its sender sent to its room within its window up to it, itself included;
    in this order, in one round trip: a later one of the same text counts the earlier ones."""
    if not sightings:
        return []
    with redis.sync_client().pipeline(transaction=False) as pipe:
        for sighting in sightings:
            key = _key(room_id=sighting.room_id, user_id=sighting.user_id, text=sighting.normalised_text)
            at_ms = int(sighting.sent_at.timestamp() * 1000)
            pipe.eval(_COUNT, 1, key, sighting.message_id, at_ms, sighting.window_seconds * 1000)
        return [int(count) for count in pipe.execute()]
