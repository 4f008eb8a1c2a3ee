"""Chat's keys in Redis: each room's newest seq, the ids of sends Kafka already
acknowledged, and the ids of events already shown to their room."""

from __future__ import annotations

from echostream.core import redis

ACKED_SEND_TTL_SECONDS = 24 * 3600
# A redelivery comes within a rebalance or a restart of the bridge: hours are plenty.
SHOWN_EVENT_TTL_SECONDS = 6 * 3600

# Watermarks only move forward, even when a redelivered older event arrives last.
_RAISE_TO = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if current == nil or current < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


def _last_seq_key() -> str:
    return redis.key("room-last-seq")


async def record_last_seq(*, room_id: str, seq: int) -> None:
    await redis.client().eval(_RAISE_TO, 1, _last_seq_key(), room_id, seq)


async def last_seqs(room_ids: list[str]) -> dict[str, int | None]:
    if not room_ids:
        return {}
    values = await redis.client().hmget(_last_seq_key(), room_ids)
    return {
        room_id: int(value) if value is not None else None for room_id, value in zip(room_ids, values, strict=False)
    }


def _acked_key(message_id: str) -> str:
    return redis.key("acked-send", message_id)


async def remember_acked_send(message_id: str) -> None:
    await redis.client().set(_acked_key(message_id), "1", ex=ACKED_SEND_TTL_SECONDS)


async def was_acked(message_id: str) -> bool:
    return bool(await redis.client().exists(_acked_key(message_id)))


def _shown_key(event_id: str) -> str:
    return redis.key("shown-event", event_id)


async def remember_shown(event_id: str) -> None:
    await redis.client().set(_shown_key(event_id), "1", ex=SHOWN_EVENT_TTL_SECONDS)


async def was_shown(event_id: str) -> bool:
    return bool(await redis.client().exists(_shown_key(event_id)))
