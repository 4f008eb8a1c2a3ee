"""The channel layer: channels_redis' pub/sub layer, with a small bounded queue per socket.

Fan-out costs one Redis PUBLISH per room event, and each web process receives it once and hands
it to its member sockets in memory; the list-based layer pushed one copy per member socket into
Redis, and each process popped them one round trip at a time (docs/decisions.md).

Pub/sub keeps nothing for a process that is not listening: a frame published while a web
process reconnects to Redis is lost to it, as a frame over the list layer's capacity was. The
delivery rule (echostream.core.delivery) shows the client the gap and it resumes. So that one
stuck socket cannot grow its process without bound, each socket's queue holds at most
`capacity` frames and drops the oldest beyond that, which the same rule repairs. The queue is a
LeanQueue: an idle socket's queue sits empty all the time, and an asyncio.Queue costs about
3 KB even then.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close

from echostream.core.leanqueue import LeanQueue

DEFAULT_CAPACITY = 1000


class _BoundedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, capacity: int = DEFAULT_CAPACITY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity

    async def _subscribe_to_channel(self, channel: str) -> None:
        # channels_redis' receiver puts with `put_nowait` for every socket of a group in one
        # loop: a full LeanQueue drops its oldest frame rather than raise there.
        self.channels[channel] = LeanQueue(maxsize=self.capacity)
        shard = self._get_shard(channel)
        await shard.subscribe(channel)

    async def group_send_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """`group_send` for each (group, message), in order, in one pipeline per Redis shard
        rather than a round trip each. As channels_redis' own `publish` (4.3.0), under the
        shard's lock."""
        by_shard: dict[Any, list[tuple[str, bytes]]] = {}
        for group, message in messages:
            group_channel = self._get_group_channel_name(group)
            by_shard.setdefault(self._get_shard(group_channel), []).append(
                (group_channel, self.channel_layer.serialize(message))
            )
        for shard, publications in by_shard.items():
            async with shard._lock:
                shard._ensure_redis()
                pipeline = shard._redis.pipeline(transaction=False)
                for group_channel, data in publications:
                    pipeline.publish(group_channel, data)
                await pipeline.execute()


# Messages decoded lately, by their bytes: enough for every room's newest events.
SHARED_MESSAGES = 512


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    """`CHANNEL_LAYERS` backend: RedisPubSubChannelLayer whose per-socket queues hold `capacity`.

    A published message reaches each member socket of the process as the same bytes; it is
    decoded once and the sockets share the decoded message, which is why no handler may change
    a message it is given (ChatConsumer.deliver_frame keeps the frame's text in it, once)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoded: OrderedDict[bytes, Any] = OrderedDict()

    def deserialize(self, message: bytes) -> Any:
        shared = self._decoded.get(message)
        if shared is None:
            shared = self._decoded[message] = super().deserialize(message)
            if len(self._decoded) > SHARED_MESSAGES:
                self._decoded.popitem(last=False)
        return shared

    def _get_layer(self) -> RedisPubSubLoopLayer:
        # As the parent's, with our loop layer: one per event loop, closed with the loop.
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _BoundedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


def take_waiting(layer: Any, channel: str, *, limit: int) -> list[Any]:
    """Up to `limit` messages that already wait for `channel` in this process, taken off its
    queue in order and decoded; none from a layer of another kind.

    channels' consumer takes each message through `receive` in a task of its own and waits for
    it, so each costs its socket a few turns of the event loop; a turn of a busy process is long,
    and a socket in busy rooms fell seconds behind its frames while the process still had time
    to spare. A consumer handling one message handles those already behind it in the same turn."""
    if not isinstance(layer, BoundedPubSubChannelLayer):
        return []
    loop_layer = layer._get_layer()
    queue = loop_layer.channels.get(channel)
    taken: list[Any] = []
    while queue is not None and not queue.empty() and len(taken) < limit:
        taken.append(layer.deserialize(queue.get_nowait()))
    return taken


def local_group_members(group: str) -> set[str]:
    """The channels of this process in `group` (pub/sub groups live in each process)."""
    layer = get_channel_layer()._get_layer()
    return set(layer.groups.get(layer._get_group_channel_name(group), ()))
