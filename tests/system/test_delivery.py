"""Live delivery's repair of a lost last frame, against the running roles: a room the user left
is never named (`room.head` for a dropped last frame is echostream/tests/test_consumer.py's)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


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
