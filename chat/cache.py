"""Chat's keys in Redis: the ids of sends Kafka already acknowledged, the ids of events
already shown to their room, where each message was first seen, and each room's chain of
shown seqs (whose head is the room's newest shown seq: `last_seqs`)."""

from __future__ import annotations

from echostream.core import redis

ACKED_SEND_TTL_SECONDS = 24 * 3600
# A redelivery comes within a rebalance or a restart of the bridge: hours are plenty.
SHOWN_EVENT_TTL_SECONDS = 6 * 3600
# A send published twice (a client's retry, a moderation replay) lands within the day
# in which web remembers its ack.
FIRST_SIGHT_TTL_SECONDS = ACKED_SEND_TTL_SECONDS


def acked_send_key(*, message_id: str) -> str:
    """The key that exists while the send is remembered as acknowledged (its retry is not
    produced again): for a check made in one round trip with another's (ratelimit.take_token)."""
    return redis.key("acked-send", message_id)


async def remember_acked_send(message_id: str) -> None:
    # Shared: the sends of one delivery report are remembered in one round trip.
    await redis.in_shared_pipeline(
        lambda pipe: pipe.set(acked_send_key(message_id=message_id), "1", ex=ACKED_SEND_TTL_SECONDS)
    )


def _shown_key(event_id: str) -> str:
    return redis.key("shown-event", event_id)


async def remember_shown(event_id: str) -> None:
    await redis.client().set(_shown_key(event_id), "1", ex=SHOWN_EVENT_TTL_SECONDS)


async def was_shown(event_id: str) -> bool:
    return bool(await redis.client().exists(_shown_key(event_id)))


async def remember_all_shown(event_ids: list[str]) -> None:
    async with redis.client().pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.set(_shown_key(event_id), "1", ex=SHOWN_EVENT_TTL_SECONDS)
        await pipe.execute()


# KEYS: the message's key. ARGV: where (room and seq), ttl. The first claim stays; returns it.
_CLAIM = """
local first = redis.call('GET', KEYS[1])
if first then
  return first
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""


def _first_seen_key(message_id: str) -> str:
    return redis.key("message-first-seen", message_id)


async def shown_and_first_sights(sightings: list[tuple[str, str, int]]) -> list[tuple[bool, bool]]:
    """For each creation (its event id, which is its message's id, room, seq): whether it was
    shown already, and `claim_first_sight` for it, in one round trip. Claiming for one already
    shown changes nothing: its first claim is its own."""
    async with redis.client().pipeline(transaction=False) as pipe:
        for message_id, room_id, seq in sightings:
            pipe.exists(_shown_key(message_id))
            pipe.eval(_CLAIM, 1, _first_seen_key(message_id), f"{room_id}:{seq}", FIRST_SIGHT_TTL_SECONDS)
        answers = await pipe.execute()
    return [
        (bool(shown), claim == f"{room_id}:{seq}")
        for shown, claim, (_, room_id, seq) in zip(answers[::2], answers[1::2], sightings, strict=True)
    ]


async def claim_first_sight(*, message_id: str, room_id: str, seq: int) -> bool:
    """Whether the message's creation at (room, seq) is its first: not when another copy was
    seen first (the same send published twice, or its id reused in another room)."""
    return (await claim_first_sights([(message_id, room_id, seq)]))[0]


async def claim_first_sights(sightings: list[tuple[str, str, int]]) -> list[bool]:
    """`claim_first_sight` for each (message id, room, seq), in one round trip."""
    async with redis.client().pipeline(transaction=False) as pipe:
        for message_id, room_id, seq in sightings:
            pipe.eval(_CLAIM, 1, _first_seen_key(message_id), f"{room_id}:{seq}", FIRST_SIGHT_TTL_SECONDS)
        claims = await pipe.execute()
    return [claim == f"{room_id}:{seq}" for claim, (_, room_id, seq) in zip(claims, sightings, strict=True)]


# KEYS: the room's chain. ARGV: seq. Moves the room's last shown seq up to `seq` and returns
# the one before it (-1: none). The same seq again (a redelivery after a crash between
# this and the shown mark) gets the same answer, so the chain a client checks stays whole.
_SWAP_LAST_SHOWN = """
local last = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local seq = tonumber(ARGV[1])
if last == nil or last < seq then
  redis.call('HSET', KEYS[1], 'seq', seq, 'prev', last or -1)
  return last or -1
end
if last == seq then
  return tonumber(redis.call('HGET', KEYS[1], 'prev'))
end
return -1
"""


def _shown_chain_key(room_id: str) -> str:
    return redis.key("room-shown-chain", room_id)


async def swap_last_shown(*, room_id: str, seq: int) -> int | None:
    """Records `seq` as the room's last shown event; the seq shown before it (None: none known,
    or `seq` is older than the last shown, which only a replay of old events brings)."""
    return (await swap_all_last_shown([(room_id, seq)]))[0]


async def swap_all_last_shown(shown: list[tuple[str, int]]) -> list[int | None]:
    """`swap_last_shown` for each (room, seq), in this order, in one round trip: a room's
    later seq in the list chains to its earlier one. Shared (redis.in_shared_pipeline)."""

    def queue(pipe: redis.Pipeline) -> None:
        for room_id, seq in shown:
            pipe.eval(_SWAP_LAST_SHOWN, 1, _shown_chain_key(room_id), seq)

    previous = [int(value) for value in await redis.in_shared_pipeline(queue)] if shown else []
    return [None if value < 0 else value for value in previous]


async def last_seqs(room_ids: list[str]) -> dict[str, int | None]:
    """Each room's last shown seq, as its chain holds it (None: nothing shown that Redis knows)."""
    if not room_ids:
        return {}
    async with redis.client().pipeline(transaction=False) as pipe:
        for room_id in room_ids:
            pipe.hget(_shown_chain_key(room_id), "seq")
        values = await pipe.execute()
    return {room_id: int(value) if value is not None else None for room_id, value in zip(room_ids, values, strict=True)}
