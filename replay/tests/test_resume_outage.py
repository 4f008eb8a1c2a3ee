"""Resume while MongoDB is unreachable for this process (a refusing port in front of it; the
shared server keeps running): the bridge's fan-out goes on, and a resume replays what it
showed from the Kafka log and the recent cache, then `resume.done`."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async

from chat.models import Membership, Room
from chat.tests.test_bridge_run import WAIT, Running, created_json, edited_json, mid, write
from echostream.core import events, kafka, mongo
from tests.outage import MongoOutage

pytestmark = pytest.mark.usefixtures("services")


def deleted_json(room_id: str, message_id: str) -> bytes:
    return json.dumps(
        {
            "type": "message.deleted",
            "id": uuid.uuid4().hex,
            "room": room_id,
            "occurred_at": events.now().isoformat(),
            "actor": "1",
            "v": 1,
            "data": {"message_id": message_id},
        }
    ).encode()


async def until_shown(room_id: str, position: int) -> None:
    for _ in range(WAIT * 5):
        if await asyncio.to_thread(kafka.bridge_position, room_id) == position:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the bridge never showed room {room_id} up to {position}")


async def test_a_resume_while_mongodb_is_unreachable_replays_from_the_log_and_the_recent_cache(
    open_socket, make_user, settings
):
    user = await make_user()
    room = await sync_to_async(Room.objects.create)(name="outage")
    await sync_to_async(Membership.objects.create)(room=room, user=user)
    room_id = room.id
    outage = MongoOutage()
    await outage.start()
    await mongo.close()  # no client of the real MongoDB stays in this process
    settings.MONGODB_URI = outage.uri
    running = Running()
    try:
        ids = {name: mid(f"{room_id}-{name}") for name in ("zero", "one", "two", "three")}
        await asyncio.to_thread(
            write,
            room_id,
            created_json(room_id, ids["zero"], "zero"),  # 0: the client saw it
            created_json(room_id, ids["one"], "one"),  # 1
            created_json(room_id, ids["two"], "two"),  # 2
            edited_json(room_id, ids["zero"], "zero, edited"),  # 3: a change to a message the client has
            deleted_json(room_id, ids["two"]),  # 4
            created_json(room_id, ids["three"], "three"),  # 5
        )
        await until_shown(room_id, 6)  # the fan-out showed them all, MongoDB holds none

        socket = await open_socket(user)
        await socket.send_frame({"type": "resume", "rooms": {room_id: 0}})
        frames = []
        while (frame := await socket.answer())["type"] != "resume.done":
            frames.append(frame)
        assert [
            (f["type"], f["seq"], f["prev_seq"], f["message"]["id"], f["message"]["body"], f["message"].get("deleted"))
            for f in frames
        ] == [
            ("message.new", 1, 0, ids["one"], "one", None),
            ("message.new", 2, 1, ids["two"], "", True),  # compacted: its body never shows
            ("message.updated", 3, 2, ids["zero"], "zero, edited", None),
            ("message.new", 5, 3, ids["three"], "three", None),
        ]
        assert frame == {"type": "resume.done", "rooms": {room_id: 5}, "reload": []}
        assert outage.refused > 0  # MongoDB was asked, and did not answer
        assert await socket.still_answers()
    finally:
        await running.finish()
        running.task.result()
        await outage.close()
