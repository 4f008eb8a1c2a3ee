"""Editing and deleting, through Kafka, seen by every member and in the history."""

from __future__ import annotations

import uuid

import pytest

from tests.system.client import ChatClient
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


@pytest.fixture
async def room_of_three(stack: Stack):
    people = [ChatClient(stack.base_url) for _ in range(3)]
    for person, name in zip(people, ("alice", "bob", "carol"), strict=True):
        await person.signup(f"{name}{uuid.uuid4().hex[:8]}")
        await person.connect()
    alice, bob, carol = people
    room = await alice.create_group("edits", [bob.username, carol.username])
    await alice.send_message(room["id"], "original")
    messages = [(await person.next_frame("message.new"))["message"] for person in people]
    message = messages[0]
    yield room, message, people
    for person in people:
        await person.close()


async def test_the_sender_edits_and_every_member_sees_it(room_of_three):
    room, message, (alice, bob, carol) = room_of_three
    await alice.edit(room["id"], message["id"], "edited")
    for person in (alice, bob, carol):
        frame = await person.next_frame("message.updated")
        assert frame["message"]["id"] == message["id"]
        assert frame["message"]["body"] == "edited"
        assert frame["message"]["seq"] == message["seq"]
        assert frame["seq"] > message["seq"] and "edited_at" in frame["message"]
    (stored,) = (await bob.history(room["id"])).json()["messages"]
    assert (stored["body"], stored["seq"]) == ("edited", message["seq"])


async def test_the_sender_deletes_and_the_body_is_gone_everywhere(room_of_three):
    room, message, (alice, bob, _) = room_of_three
    await alice.delete_message(room["id"], message["id"])
    frame = await bob.next_frame("message.updated")
    assert frame["message"]["deleted"] is True and frame["message"]["body"] == ""
    (stored,) = (await bob.history(room["id"])).json()["messages"]
    assert (stored["deleted"], stored["body"], stored["seq"]) == (True, "", message["seq"])


async def test_nobody_else_edits_or_deletes_someone_s_message(room_of_three):
    room, message, (alice, bob, _) = room_of_three
    await bob.edit(room["id"], message["id"], "hijacked")
    await bob.delete_message(room["id"], message["id"])
    for _ in range(2):
        frame = await bob.next_frame("message.rejected")
        assert (frame["reason"], frame["id"], frame["client_id"]) == ("forbidden", message["id"], None)
    (stored,) = (await alice.history(room["id"])).json()["messages"]
    assert stored["body"] == "original"


async def test_a_moderator_deletes_someone_else_s_message(room_of_three, stack):
    room, message, (_, bob, carol) = room_of_three
    stack.make_moderator(carol.username)
    await carol.delete_message(room["id"], message["id"])
    frame = await bob.next_frame("message.updated")
    assert frame["message"]["deleted"] is True


async def test_a_deleted_message_cannot_be_edited(room_of_three):
    room, message, (alice, _, _) = room_of_three
    await alice.delete_message(room["id"], message["id"])
    await alice.next_frame("message.updated")
    await alice.edit(room["id"], message["id"], "back from the dead")
    frame = await alice.next_frame("message.rejected")
    assert frame["reason"] == "invalid"
