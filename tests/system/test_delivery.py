"""Live delivery's repair of a lost last frame, against the running roles: the socket notices
that a room's newest shown event never reached it and says so (`room.head`); the client resumes."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer

from echostream.core import groups

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


async def test_a_room_whose_last_frame_never_reached_the_socket_is_resumed_after_room_head(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room_id = (await alice.create_group("tail", [bob.username]))["id"]
    await alice.send_message(room_id, "seen")
    assert (await bob.next_frame("message.new", timeout=30))["message"]["body"] == "seen"

    # Every socket leaves the room's group, as if the channel layer dropped all that follows.
    layer = get_channel_layer()
    group = groups.room_group(room_id)
    members = await layer.connection(layer.consistent_hash(group)).zrange(layer._group_key(group), 0, -1)
    for channel in members:
        await layer.group_discard(group, channel.decode())
    await alice.send_message(room_id, "the last word")
    await alice.next_frame("message.ack")

    head = await bob.next_frame("room.head", timeout=60)
    assert head["room"] == room_id
    await bob.next_frame("resume.done", timeout=30)
    assert [f["message"]["body"] for f in bob.rooms.applied[room_id]] == ["seen", "the last word"]


async def test_a_room_the_user_left_is_never_named_in_room_head(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room_id = (await alice.create_group("left", [bob.username]))["id"]
    await alice.send_message(room_id, "seen")
    assert (await bob.next_frame("message.new", timeout=30))["message"]["body"] == "seen"
    assert (await alice.delete(f"/api/rooms/{room_id}/members/{bob.username}/")).status_code == 204

    for n in range(3):
        await alice.send_message(room_id, f"after {n}")
    await alice.collect("message.new", 3, timeout=30)
    # Long enough for several of the socket's looks at its rooms (DELIVERY_TAIL_CHECK_SECONDS).
    assert [f for f in await bob.quiet_frames(8) if f["type"] in ("room.head", "message.new")] == []
