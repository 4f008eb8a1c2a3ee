"""The message path with real clients against the running roles and the real Kafka and MongoDB."""

from __future__ import annotations

import pytest

from echostream.core.events import MessageCreated
from tests.system.inspect import room_topic_events, stored_messages

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


async def test_direct_message_reaches_both_people_and_nobody_else(clients):
    alice, bob, eve = await clients("alice"), await clients("bob"), await clients("eve")
    room = await alice.open_dm(bob.username)

    client_id = await alice.send_message(room["id"], "hi bob")

    ack = await alice.next_frame("message.ack")
    assert ack == {"type": "message.ack", "client_id": client_id, "room": room["id"], "status": "sent"}
    for person in (alice, bob):
        message = (await person.next_frame("message.new"))["message"]
        assert (message["body"], message["sender"], message["client_id"]) == ("hi bob", alice.username, client_id)
    assert [f for f in await eve.quiet_frames(1.0) if f["type"] == "message.new"] == []


async def test_opening_a_dm_twice_from_either_side_gives_the_same_room(clients):
    alice, bob = await clients("alice"), await clients("bob")
    first = await alice.open_dm(bob.username)
    second = await bob.open_dm(alice.username)
    assert first["id"] == second["id"]
    assert first["kind"] == "dm"
    assert sorted(first["members"]) == sorted([alice.username, bob.username])


async def test_group_members_get_every_message_in_seq_order(clients):
    alice, bob, carol, outsider = [await clients(name) for name in ("alice", "bob", "carol", "out")]
    room = await alice.create_group("trio", [bob.username, carol.username])
    sent = []
    for sender in (alice, bob, carol, alice, bob, carol):
        body = f"from {sender.username} #{len(sent)}"
        await sender.send_message(room["id"], body)
        sent.append(body)

    for member in (alice, bob, carol):
        received = [frame["message"] for frame in await member.collect("message.new", len(sent))]
        seqs = [message["seq"] for message in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert sorted(message["body"] for message in received) == sorted(sent)
    assert [f for f in await outsider.quiet_frames(1.0) if f["type"] == "message.new"] == []


async def test_each_message_is_in_its_room_topic_in_mongodb_and_in_history(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room = await alice.create_group("archive", [bob.username])
    bodies = [f"line {n}" for n in range(5)]
    for body in bodies:
        await alice.send_message(room["id"], body)
    delivered = [frame["message"] for frame in await bob.collect("message.new", len(bodies))]

    in_topic = [(offset, event) for offset, event in room_topic_events(room["id"]) if isinstance(event, MessageCreated)]
    assert [(offset, event.data.body) for offset, event in in_topic] == [(m["seq"], m["body"]) for m in delivered]
    stored = await stored_messages(room["id"], at_least=len(bodies))
    assert [(document["seq"], document["body"]) for document in stored] == [(m["seq"], m["body"]) for m in delivered]
    history = (await bob.history(room["id"])).json()
    assert history["messages"] == delivered
    assert history["has_more"] is False


async def test_history_pages_backwards_with_before_and_limit(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room = await alice.create_group("pages", [bob.username])
    for n in range(7):
        await alice.send_message(room["id"], f"m{n}")
    seqs = [frame["message"]["seq"] for frame in await bob.collect("message.new", 7)]

    newest = (await bob.history(room["id"], limit=3)).json()
    older = (await bob.history(room["id"], limit=3, before=newest["messages"][0]["seq"])).json()
    after = (await bob.history(room["id"], after=seqs[1], limit=2)).json()

    assert [m["body"] for m in newest["messages"]] == ["m4", "m5", "m6"] and newest["has_more"] is True
    assert [m["body"] for m in older["messages"]] == ["m1", "m2", "m3"] and older["has_more"] is True
    assert [m["body"] for m in after["messages"]] == ["m2", "m3"] and after["has_more"] is True


async def test_a_retried_send_with_the_same_client_id_makes_one_message(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room = await alice.open_dm(bob.username)
    for _ in range(3):
        await alice.send_message(room["id"], "only once", client_id="retry-me")
    acks = await alice.collect("message.ack", 3)
    assert {ack["client_id"] for ack in acks} == {"retry-me"}
    await alice.send_message(room["id"], "after")
    received = [frame["message"]["body"] for frame in await bob.collect("message.new", 2)]
    assert received == ["only once", "after"]
    assert [m["body"] for m in await stored_messages(room["id"], at_least=2)] == ["only once", "after"]


async def test_a_member_added_later_receives_from_then_on_and_a_removed_one_stops(clients):
    alice, bob, carol = await clients("alice"), await clients("bob"), await clients("carol")
    room = await alice.create_group("changing", [bob.username])
    response = await alice.post(f"/api/rooms/{room['id']}/members/", {"username": carol.username})
    assert response.status_code == 201
    await alice.send_message(room["id"], "welcome carol")
    assert (await carol.next_frame("message.new"))["message"]["body"] == "welcome carol"

    response = await alice.delete(f"/api/rooms/{room['id']}/members/{carol.username}/")
    assert response.status_code == 204
    await alice.send_message(room["id"], "carol is gone")
    assert (await bob.next_frame("message.new"))["message"]["body"] == "welcome carol"
    assert (await bob.next_frame("message.new"))["message"]["body"] == "carol is gone"
    assert [f for f in await carol.quiet_frames(1.0) if f["type"] == "message.new"] == []
    assert (await carol.history(room["id"])).status_code == 404


async def test_only_a_room_admin_adds_members(clients):
    alice, bob, carol = await clients("alice"), await clients("bob"), await clients("carol")
    room = await alice.create_group("admins", [bob.username])
    response = await bob.post(f"/api/rooms/{room['id']}/members/", {"username": carol.username})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
