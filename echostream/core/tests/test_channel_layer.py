"""The pub/sub channel layer against the real Redis."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

pytestmark = pytest.mark.usefixtures("services")


async def test_messages_sent_to_several_groups_at_once_reach_each_member_in_order():
    layer = get_channel_layer()
    first, second = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("batch.a", first)
    await layer.group_add("batch.b", first)
    await layer.group_add("batch.b", second)
    try:
        await layer.group_send_many(
            [("batch.a", {"type": "t", "n": 1}), ("batch.b", {"type": "t", "n": 2}), ("batch.a", {"type": "t", "n": 3})]
        )
        to_first = [await asyncio.wait_for(layer.receive(first), 5) for _ in range(3)]
        to_second = [await asyncio.wait_for(layer.receive(second), 5)]
        assert [message["n"] for message in to_first] == [1, 2, 3]
        assert [message["n"] for message in to_second] == [2]
    finally:
        await layer.flush()


async def test_the_same_bytes_are_decoded_once_for_every_socket_of_the_process():
    layer = get_channel_layer()
    sockets = [await layer.new_channel() for _ in range(3)]
    for socket in sockets:
        await layer.group_add("shared.room", socket)
    try:
        await layer.group_send("shared.room", {"type": "t", "frame": {"body": "once"}})
        received = [await asyncio.wait_for(layer.receive(socket), 5) for socket in sockets]
        assert received[0] == {"type": "t", "frame": {"body": "once"}}
        assert received[0] is received[1] is received[2]
    finally:
        await layer.flush()
