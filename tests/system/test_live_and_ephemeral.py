"""Live frames from the first moment, and the ephemeral frames (presence, typing, receipts):
real WebSocket clients against the running roles."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.system.client import ChatClient

pytestmark = pytest.mark.django_db(transaction=False, databases=[])

EPHEMERAL = {"presence", "typing", "receipt"}


async def test_a_socket_that_does_not_resume_gets_a_live_message_at_once(clients, stack):
    alice = await clients("alice")
    bob = ChatClient(stack.base_url)
    await bob.signup(f"{alice.username}-bob")
    room_id = (await alice.create_group("first moment", [bob.username]))["id"]
    await alice.send_message(room_id, "the room is under way")
    await alice.next_frame("message.new")
    try:
        await bob.connect(resume=False)  # a listener: `/ws/`, never resumes
        sent_at = time.monotonic()
        await alice.send_message(room_id, "hello, listener")
        ours = await alice.next_frame("message.new")
        theirs = await bob.next_frame("message.new")
        message_id = ours["message"]["id"]
        assert theirs["message"]["id"] == message_id
        # Measured against the sender's own copy, which the same fan-out sends at the same
        # moment (so a busy machine slows both): a held frame would come up to 2 s after it.
        lag = bob.arrived_at[message_id] - alice.arrived_at[message_id]
        print(f"send->listener {bob.arrived_at[message_id] - sent_at:.3f}s, {lag:.3f}s behind the sender's copy")
        assert lag < 0.1
    finally:
        await bob.close()


async def test_a_resuming_socket_gets_missed_and_live_messages_once_each_in_order(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room_id = (await alice.create_group("join", [bob.username]))["id"]
    await alice.send_message(room_id, "seen")
    cursor = (await bob.next_frame("message.new"))["seq"]
    await bob.disconnect()
    missed = []
    for n in range(3):
        await alice.send_message(room_id, f"missed {n}")
        missed.append(f"missed {n}")

    async def keep_sending() -> list[str]:
        sent = []
        for n in range(10):
            await alice.send_message(room_id, f"live {n}")
            sent.append(f"live {n}")
            await asyncio.sleep(0.03)
        return sent

    sender = asyncio.create_task(keep_sending())
    await bob.connect(resume=False, will_resume=True)
    await bob.send_frame({"type": "resume", "rooms": {room_id: cursor}})
    live = await sender
    frames = []
    while len(frames) < len(missed) + len(live):
        frames.append(await bob.next_frame("message.new", timeout=20))
    frames += [frame for frame in await bob.quiet_frames(1.0) if frame["type"] == "message.new"]
    assert [frame["message"]["body"] for frame in frames] == missed + live
    assert [frame["seq"] for frame in frames] == sorted({frame["seq"] for frame in frames})


async def test_a_non_member_never_receives_presence_typing_or_receipts_of_a_room(clients):
    alice, stranger = await clients("alice"), await clients("stranger")
    bob = await clients("bob")
    room_id = (await alice.create_group("private", [bob.username]))["id"]
    await alice.send_message(room_id, "hi bob")
    seq = (await bob.next_frame("message.new"))["seq"]
    await bob.send_frame({"type": "typing", "room": room_id, "state": True})
    await bob.send_frame({"type": "receipt", "room": room_id, "seq": seq, "kind": "read"})
    await bob.send_frame({"type": "typing", "room": room_id, "state": False})
    await bob.disconnect()  # bob goes offline: his co-members hear it
    assert (await alice.next_frame("typing"))["state"] is True
    assert (await alice.next_frame("receipt"))["user"] == bob.username
    offline = await alice.next_frame("presence")
    assert (offline["user"], offline["status"]) == (bob.username, "offline")
    seen = await stranger.quiet_frames(1.5)
    assert [frame for frame in seen if frame["type"] in EPHEMERAL] == []
