"""Room frames over in-process sockets (the real consumer, Redis channel layer, Kafka, MongoDB):
who gets `room.joined`, `room.updated` and `room.left` when a room's members change."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat import recent, services
from chat.models import Room
from echostream.core import groups
from tests.inprocess import Socket, in_group

pytestmark = pytest.mark.usefixtures("services")


async def room_frame(socket: Socket) -> dict[str, Any]:
    """The socket's next `room.*` frame (presence and the like are passed over)."""
    while True:
        frame = await socket.answer()
        if frame["type"].startswith("room."):
            return frame


async def told_group(creator: Socket, *others: Socket) -> Room:
    """A new group of the sockets' users, once each of them has had its `room.joined`."""
    room = await sync_to_async(services.do_create_group)(
        creator=creator.user, name="g", member_usernames=[other.user.username for other in others]
    )
    for member in (creator, *others):
        await room_frame(member)
    return room


@pytest.fixture
async def people(make_user, open_socket):
    """Four users, each with an open socket."""
    return [await open_socket(await make_user()) for _ in range(4)]


async def test_everyone_in_a_new_group_gets_it_at_once_and_a_stranger_nothing(people):
    alice, bob, carol, stranger = people
    room = await sync_to_async(services.do_create_group)(
        creator=alice.user, name="team", member_usernames=[bob.user.username, carol.user.username]
    )

    for member in (alice, bob, carol):
        frame = await room_frame(member)
        assert (frame["type"], frame["room"]["id"], frame["room"]["name"]) == ("room.joined", room.id, "team")
        # The socket was in the room's group before the frame went out.
        assert await in_group(groups.room_group(room.id), member.consumer.channel_name)
    assert await stranger.silent()


async def test_both_people_of_a_new_dm_get_it_named_after_the_other(people):
    alice, bob, _, stranger = people
    room, _ = await sync_to_async(services.do_open_dm)(user=alice.user, other_username=bob.user.username)

    for member, other in ((alice, bob), (bob, alice)):
        frame = await room_frame(member)
        assert (frame["type"], frame["room"]["id"], frame["room"]["name"]) == (
            "room.joined",
            room.id,
            other.user.username,
        )
    assert await stranger.silent()


async def test_opening_an_existing_dm_again_sends_nothing(people):
    alice, bob, _, _ = people
    await sync_to_async(services.do_open_dm)(user=alice.user, other_username=bob.user.username)
    for member in (alice, bob):
        await room_frame(member)

    await sync_to_async(services.do_open_dm)(user=bob.user, other_username=alice.user.username)

    assert await alice.silent() and await bob.silent()


async def test_an_added_member_gets_the_room_and_the_others_its_new_members(people):
    alice, bob, carol, stranger = people
    room = await told_group(alice, bob)

    await sync_to_async(services.do_add_member)(actor=alice.user, room=room, username=carol.user.username)

    joined = await room_frame(carol)
    assert (joined["type"], joined["room"]["id"]) == ("room.joined", room.id)
    assert await in_group(groups.room_group(room.id), carol.consumer.channel_name)
    for member in (alice, bob):
        updated = await room_frame(member)
        assert (updated["type"], updated["room"]["id"]) == ("room.updated", room.id)
        assert carol.user.username in updated["room"]["members"]
    assert await stranger.silent()


async def test_a_removed_member_gets_room_left_and_the_others_the_room_without_them(people):
    alice, bob, carol, stranger = people
    room = await told_group(alice, bob, carol)

    await sync_to_async(services.do_remove_member)(actor=alice.user, room=room, username=carol.user.username)

    assert await room_frame(carol) == {"type": "room.left", "room": room.id}
    assert not await in_group(groups.room_group(room.id), carol.consumer.channel_name)
    for member in (alice, bob):
        updated = await room_frame(member)
        assert (updated["type"], updated["room"]["id"]) == ("room.updated", room.id)
        assert updated["room"]["members"] == sorted([alice.user.username, bob.user.username])
    assert await stranger.silent()


async def test_a_member_who_leaves_gets_room_left_and_the_others_the_room_without_them(people):
    alice, bob, _, _ = people
    room = await told_group(alice, bob)

    await sync_to_async(services.do_remove_member)(actor=bob.user, room=room, username=bob.user.username)

    assert await room_frame(bob) == {"type": "room.left", "room": room.id}
    updated = await room_frame(alice)
    assert (updated["type"], updated["room"]["members"]) == ("room.updated", [alice.user.username])


async def test_every_member_of_a_deleted_room_gets_room_left_and_their_sockets_leave_it(people):
    alice, bob, carol, stranger = people
    room = await told_group(alice, bob, carol)

    room_id = room.id  # Django forgets a deleted instance's key
    await sync_to_async(services.do_delete_room)(room=room)

    for member in (alice, bob, carol):
        assert await room_frame(member) == {"type": "room.left", "room": room_id}
        assert not await in_group(groups.room_group(room_id), member.consumer.channel_name)
    assert await stranger.silent()


async def test_a_deleted_room_s_cache_of_recent_messages_is_dropped(people):
    alice, bob, _, _ = people
    room = await told_group(alice, bob)
    room_id = room.id
    assert await recent.page(room_id=room_id, before=None, limit=10) == ([], False)  # a new room's is whole

    await sync_to_async(services.do_delete_room)(room=room)

    assert await recent.page(room_id=room_id, before=None, limit=10) is None
