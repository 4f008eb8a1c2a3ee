"""A client goes on showing live frames after it sends `resume`: a resume that crosses frames on
their way replays only what they do not bring, so the client is shown each message once."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat.models import Membership, Room
from chat.tests.test_bridge_run import Running, created_json, mid, write
from replay.tests.test_resume_outage import until_shown

pytestmark = pytest.mark.usefixtures("services")


async def test_a_resume_from_a_cursor_that_live_frames_moved_on_replays_only_what_they_did_not_bring(
    open_socket, make_user
):
    user = await make_user()
    room = await sync_to_async(Room.objects.create)(name="join")
    await sync_to_async(Membership.objects.create)(room=room, user=user)
    room_id = room.id
    socket = await open_socket(user)
    running = Running()
    try:
        ids = [mid(f"{room_id}-{n}") for n in range(4)]
        await asyncio.to_thread(write, room_id, *(created_json(room_id, ids[n], f"m{n}") for n in range(3)))
        await until_shown(room_id, 3)
        live = [await socket.answer() for _ in range(3)]
        assert [(f["type"], f["seq"]) for f in live] == [("message.new", 0), ("message.new", 1), ("message.new", 2)]

        # The client sent this when it had seq 0 only; 1 and 2 reached it after, and it showed them.
        await socket.send_frame({"type": "resume", "rooms": {room_id: 0}})
        done = await socket.answer()
        assert done == {"type": "resume.done", "rooms": {room_id: 2}, "reload": []}

        await asyncio.to_thread(write, room_id, created_json(room_id, ids[3], "m3"))
        after = await socket.answer()
        assert (after["type"], after["seq"], after["prev_seq"]) == ("message.new", 3, 2)
    finally:
        await running.finish()
        running.task.result()
