"""Per-user rate limits of socket frames: one token bucket per (user, kind) in Redis,
updated atomically by a Lua script. settings.RATE_LIMITS gives each kind its burst and
its refill rate, so that a flood of one kind (receipts) cannot starve another (sends)
nor slow the pipeline for everyone else."""

from __future__ import annotations

from typing import Literal

from django.conf import settings

from echostream.core import redis

Kind = Literal["send", "edit", "delete", "receipt", "resume", "typing"]

# Returns the seconds until the bucket holds a token again: 0 when one was taken.
# Redis' own clock, so that web copies on different machines share one time.
_TAKE_TOKEN = """
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


async def take_token(*, user_id: str, kind: Kind) -> float | None:
    """None when the user may do one more `kind` now (and it is counted); else the seconds to wait."""
    burst, per_second = settings.RATE_LIMITS[kind]
    wait = float(await redis.client().eval(_TAKE_TOKEN, 1, redis.key("rate", kind, user_id), burst, per_second))
    if wait <= 0:
        return None
    return max(_MIN_RETRY_AFTER, round(wait, 3))
