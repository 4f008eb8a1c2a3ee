"""Chat's frames over an in-process socket hit their rate limits (real Redis and Kafka)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat import services
from echostream.core import kafka

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def member(make_user, open_socket):
    user, other = await make_user(), await make_user()
    room, _ = await sync_to_async(services.do_open_dm)(user=user, other_username=other.username)
    await sync_to_async(kafka.ensure_inbound_topic)()
    return await open_socket(user), room.id


async def test_a_send_over_the_rate_limit_is_rejected_with_retry_after(member, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send": (1, 0.01)}
    socket, room_id = member
    await socket.send_frame({"type": "message.send", "room": room_id, "client_id": "first", "body": "hi"})
    assert (await socket.answer())["type"] == "message.ack"
    await socket.send_frame({"type": "message.send", "room": room_id, "client_id": "second", "body": "hi"})
    answer = await socket.answer()
    assert (answer["type"], answer["reason"], answer["client_id"]) == ("message.rejected", "rate_limited", "second")
    assert answer["retry_after"] > 0


async def test_edits_over_the_rate_limit_are_rejected_with_retry_after(member, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "edit": (1, 0.01)}
    socket, room_id = member
    edit = {"type": "message.edit", "room": room_id, "id": "m-unknown", "body": "changed"}
    await socket.send_frame(edit)
    assert (await socket.answer())["reason"] == "invalid"  # counted, then found to name no message
    await socket.send_frame(edit)
    answer = await socket.answer()
    assert (answer["reason"], answer["id"], answer["client_id"]) == ("rate_limited", "m-unknown", None)
    assert answer["retry_after"] > 0


async def test_deletes_have_their_own_limit(member, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "edit": (1, 0.01), "delete": (1, 0.01)}
    socket, room_id = member
    await socket.send_frame({"type": "message.edit", "room": room_id, "id": "m1", "body": "x"})
    await socket.send_frame({"type": "message.delete", "room": room_id, "id": "m1"})
    assert [(await socket.answer())["reason"] for _ in range(2)] == ["invalid", "invalid"]
