"""Room frames with real clients against the running roles: a room appears for each member at
once, before any message, and member changes reach exactly the members."""

from __future__ import annotations

from typing import Any

import pytest

from tests.system.client import ChatClient

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


def same_room(seen: dict[str, Any], answered: dict[str, Any]) -> bool:
    """Whether a frame's room is the room the API answered (whose presence may have moved since)."""
    fields = ("id", "name", "kind", "members", "last_seq", "last_message", "activity_at")
    return all(seen[field] == answered[field] for field in fields)


async def room_frames_within(client: ChatClient, seconds: float) -> list[dict[str, Any]]:
    return [frame for frame in await client.quiet_frames(seconds) if frame["type"].startswith("room.")]


async def test_a_new_group_reaches_each_member_s_socket_before_any_message(clients):
    alice, bob, carol, eve = [await clients(name) for name in ("alice", "bob", "carol", "eve")]
    room = await alice.create_group("launch", [bob.username, carol.username])

    for member in (alice, bob, carol):
        before, joined = await member.until("room.joined")
        assert same_room(joined["room"], room)
        assert [frame for frame in before if frame["type"] == "message.new"] == []
    assert await room_frames_within(eve, 1.0) == []


async def test_a_new_dm_reaches_both_people_named_after_the_other(clients):
    alice, bob, eve = await clients("alice"), await clients("bob"), await clients("eve")
    room = await alice.open_dm(bob.username)

    assert same_room((await alice.next_frame("room.joined"))["room"], room)
    seen_by_bob = (await bob.next_frame("room.joined"))["room"]
    assert (seen_by_bob["id"], seen_by_bob["kind"], seen_by_bob["name"]) == (room["id"], "dm", alice.username)
    assert await room_frames_within(eve, 1.0) == []


async def test_a_message_sent_right_after_room_joined_reaches_the_new_member_live(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room = await alice.create_group("quick", [bob.username])
    await bob.next_frame("room.joined")

    await alice.send_message(room["id"], "first words")

    assert (await bob.next_frame("message.new"))["message"]["body"] == "first words"


async def test_an_added_member_gets_room_joined_and_the_others_room_updated(clients):
    alice, bob, carol, eve = [await clients(name) for name in ("alice", "bob", "carol", "eve")]
    room = await alice.create_group("growing", [bob.username])
    for member in (alice, bob):
        await member.next_frame("room.joined")

    assert (await alice.add_member(room["id"], carol.username)).status_code == 201

    joined = (await carol.next_frame("room.joined"))["room"]
    assert (joined["id"], joined["members"]) == (room["id"], sorted([alice.username, bob.username, carol.username]))
    for member in (alice, bob):
        assert (await member.next_frame("room.updated"))["room"]["members"] == joined["members"]
    await alice.send_message(room["id"], "welcome")
    assert (await carol.next_frame("message.new"))["message"]["body"] == "welcome"
    assert await room_frames_within(eve, 1.0) == []


async def test_a_removed_member_gets_room_left_and_the_others_room_updated(clients):
    alice, bob, carol, eve = [await clients(name) for name in ("alice", "bob", "carol", "eve")]
    room = await alice.create_group("shrinking", [bob.username, carol.username])
    for member in (alice, bob, carol):
        await member.next_frame("room.joined")

    assert (await alice.remove_member(room["id"], carol.username)).status_code == 204

    assert await carol.next_frame("room.left") == {"type": "room.left", "room": room["id"]}
    for member in (alice, bob):
        assert (await member.next_frame("room.updated"))["room"]["members"] == sorted([alice.username, bob.username])
    await alice.send_message(room["id"], "after carol")
    assert (await bob.next_frame("message.new"))["message"]["body"] == "after carol"
    assert [frame for frame in await carol.quiet_frames(1.0) if frame["type"] == "message.new"] == []
    assert await room_frames_within(eve, 1.0) == []


async def test_a_member_who_leaves_gets_room_left_and_the_others_room_updated(clients):
    alice, bob, eve = await clients("alice"), await clients("bob"), await clients("eve")
    room = await alice.create_group("leaving", [bob.username])
    for member in (alice, bob):
        await member.next_frame("room.joined")

    assert (await bob.remove_member(room["id"], bob.username)).status_code == 204

    assert await bob.next_frame("room.left") == {"type": "room.left", "room": room["id"]}
    assert (await alice.next_frame("room.updated"))["room"]["members"] == [alice.username]
    assert await room_frames_within(eve, 1.0) == []
