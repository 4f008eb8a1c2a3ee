"""Per-user send rate limits: a token bucket in Redis, updated atomically by a Lua script."""

from __future__ import annotations

import time

from django.conf import settings

from echostream.core import redis

_TAKE_TOKEN = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp'))
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if tokens == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + (now - stamp) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


async def take_send_token(*, user_id: str) -> bool:
    """True when the user may send one more message now."""
    allowed = await redis.client().eval(
        _TAKE_TOKEN,
        1,
        redis.key("send-rate", user_id),
        settings.RATE_LIMIT_BURST,
        settings.RATE_LIMIT_PER_SECOND,
        time.time(),
    )
    return bool(allowed)
