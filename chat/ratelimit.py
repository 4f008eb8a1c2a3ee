"""Per-user rate limits of socket frames: one token bucket per (user, kind) in Redis,
updated atomically by a Lua script. settings.RATE_LIMITS gives each kind its burst and
its refill rate, so that a flood of one kind (receipts) cannot starve another (sends)
nor slow the pipeline for everyone else."""

from __future__ import annotations

from typing import Final, Literal

from django.conf import settings

from echostream.core import redis

Kind = Literal["send", "edit", "delete", "receipt", "resume", "typing"]

# Returns the seconds until the bucket holds a token again: 0 when one was taken; -1, taking
# none, when the optional KEYS[2] exists (`take_token`'s `unless_exists`).
# Redis' own clock, so that web copies on different machines share one time.
_TAKE_TOKEN = """
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then
  return '-1'
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""

# A client that waits exactly retry_after finds a token; never tell it "0".
_MIN_RETRY_AFTER = 0.001


# What `take_token` returns when its `unless_exists` key exists.
DONE_ALREADY: Final = "done already"


async def take_token(
    *, user_id: str, kind: Kind, unless_exists: str | None = None
) -> float | Literal["done already"] | None:
    """None when the user may do one more `kind` now (and it is counted); else the seconds to wait.

    `unless_exists`: a key whose presence says this one is done already (a retry of a send that
    Kafka acknowledged): then DONE_ALREADY, and nothing is counted. Asked in the same round trip,
    so that the send path pays one, not two."""
    burst, per_second = settings.RATE_LIMITS[kind]
    keys = [redis.key("rate", kind, user_id), *([unless_exists] if unless_exists is not None else [])]
    # Shared: the sends of many sockets read in one turn take their tokens in one round trip.
    (answer,) = await redis.in_shared_pipeline(lambda pipe: pipe.eval(_TAKE_TOKEN, len(keys), *keys, burst, per_second))
    wait = float(answer)
    if wait < 0:
        return DONE_ALREADY
    if wait == 0:
        return None
    return max(_MIN_RETRY_AFTER, round(wait, 3))
