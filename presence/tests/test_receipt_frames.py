"""The `receipt` frame over an in-process socket, against the real Kafka, Redis and MongoDB."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat import services as chat_services
from presence import receipts
from tests.inprocess import put_event_in_room

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def member(make_user, open_socket):
    """A socket of a member of a room whose log holds one event (seq 0)."""
    user, other = await make_user(), await make_user()
    room, _ = await sync_to_async(chat_services.do_open_dm)(user=user, other_username=other.username)
    await sync_to_async(put_event_in_room)(room.id)
    return await open_socket(user), room.id


async def test_a_receipt_within_the_room_is_recorded_and_shown_to_the_room(member):
    socket, room_id = member
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 0, "kind": "read"})
    answer = await socket.answer()
    assert (answer["type"], answer["room"], answer["seq"], answer["kind"]) == ("receipt", room_id, 0, "read")
    assert await receipts.read_watermarks(str(socket.user.pk), [room_id]) == {room_id: 0}


@pytest.mark.parametrize("seq", [1, 10**15])
async def test_a_receipt_past_the_rooms_last_event_is_refused_and_changes_nothing(member, seq):
    socket, room_id = member
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": seq, "kind": "read"})
    answer = await socket.answer()
    assert (answer["type"], answer["code"]) == ("error", "invalid_frame")
    assert await socket.silent()  # no receipt was broadcast
    assert await receipts.read_watermarks(str(socket.user.pk), [room_id]) == {}


async def test_a_receipt_in_a_room_without_events_is_refused(make_user, open_socket):
    user, other = await make_user(), await make_user()
    room, _ = await sync_to_async(chat_services.do_open_dm)(user=user, other_username=other.username)
    socket = await open_socket(user)
    await socket.send_frame({"type": "receipt", "room": room.id, "seq": 0, "kind": "delivered"})
    assert (await socket.answer())["code"] == "invalid_frame"


async def test_a_receipt_for_a_strangers_room_is_forbidden(member, open_socket):
    _, room_id = member
    stranger = await open_socket()
    await stranger.send_frame({"type": "receipt", "room": room_id, "seq": 0, "kind": "read"})
    answer = await stranger.answer()
    assert (answer["type"], answer["reason"], answer["room"]) == ("message.rejected", "forbidden", room_id)
    assert await receipts.read_watermarks(str(stranger.user.pk), [room_id]) == {}


async def test_receipts_over_the_rate_limit_are_rejected_with_retry_after(member, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "receipt": (1, 0.01)}
    socket, room_id = member
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 0, "kind": "delivered"})
    assert (await socket.answer())["type"] == "receipt"
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 0, "kind": "read"})
    answer = await socket.answer()
    assert (answer["type"], answer["reason"], answer["room"]) == ("message.rejected", "rate_limited", room_id)
    assert isinstance(answer["retry_after"], float) and answer["retry_after"] > 0
    assert await receipts.read_watermarks(str(socket.user.pk), [room_id]) == {}


@pytest.fixture
async def members(make_user, open_socket):
    """Both members' sockets of a DM whose log holds three events (seq 0 to 2)."""
    reader, other = await make_user(), await make_user()
    room, _ = await sync_to_async(chat_services.do_open_dm)(user=reader, other_username=other.username)
    await sync_to_async(put_event_in_room)(room.id, 3)
    watcher = await open_socket(other)
    socket = await open_socket(reader)
    assert (await watcher.answer())["type"] == "presence"
    return socket, watcher, room.id


async def test_a_watermark_never_moves_backward_and_a_late_receipt_is_not_broadcast(members):
    socket, watcher, room_id = members
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 2, "kind": "read"})
    assert (await watcher.answer())["seq"] == 2
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 1, "kind": "read"})
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 2, "kind": "read"})
    assert await watcher.silent()
    assert await receipts.read_watermarks(str(socket.user.pk), [room_id]) == {room_id: 2}


async def test_a_read_receipt_is_a_delivery_too(members):
    socket, watcher, room_id = members
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 1, "kind": "read"})
    await watcher.answer()
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 1, "kind": "delivered"})
    assert await watcher.silent()
    await socket.send_frame({"type": "receipt", "room": room_id, "seq": 2, "kind": "delivered"})
    assert (await watcher.answer())["kind"] == "delivered"
    marks = await receipts.watermarks([(room_id, str(socket.user.pk))])
    assert marks == {(room_id, str(socket.user.pk)): (2, 1)}
