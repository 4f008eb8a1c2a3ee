"""The socket door in-process: bad input is answered and the socket kept; however a socket
ends, what it held is released (real Redis channel layer and presence)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import channels.consumer
import pytest
from channels.layers import get_channel_layer
from django import db
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError as RedisDataError

from chat import projection
from chat.models import Membership, Room
from chat.tests.test_bridge import created
from echostream.core import channel_layer, frames, groups, wire
from echostream.core.redis import RedisError
from presence import handlers as presence_handlers
from presence import store
from tests.inprocess import TIMEOUT, in_group, is_online


async def test_a_deeply_nested_frame_is_invalid_json_and_the_socket_stays_open(open_socket):
    socket = await open_socket()
    answer = await socket.answer_to("[" * 1500)
    assert (answer["type"], answer["code"]) == ("error", "invalid_json")
    assert await socket.still_answers()


async def test_nesting_inside_a_valid_looking_send_is_invalid_json(open_socket):
    socket = await open_socket()
    nested = '{"type": "message.send", "room": "r", "client_id": "c", "body": ' + "[" * 5000 + "]" * 5000 + "}"
    answer = await socket.answer_to(nested)
    assert (answer["type"], answer["code"]) == ("error", "invalid_json")
    assert await socket.still_answers()


async def test_a_lone_surrogate_is_invalid_json(open_socket):
    socket = await open_socket()
    frame = '{"type": "message.send", "room": "r", "client_id": "c1", "body": "\\ud800"}'
    answer = await socket.answer_to(frame)
    assert (answer["type"], answer["code"]) == ("error", "invalid_json")
    assert await socket.still_answers()


async def test_an_oversized_frame_is_refused_before_it_is_parsed(open_socket, settings):
    settings.WEBSOCKET_MAX_FRAME_BYTES = 1000
    socket = await open_socket()
    answer = await socket.answer_to('{"type": "message.send", "client_id": "big", "body": ' + "[" * 3000)
    assert (answer["type"], answer["reason"]) == ("message.rejected", "too_large")
    assert await socket.still_answers()


@pytest.mark.parametrize(
    "outage",
    [
        db.OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused"),
        RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    ],
    ids=["database", "redis"],
)
async def test_a_frame_a_store_cannot_serve_is_answered_unavailable_with_its_client_id(
    open_socket, monkeypatch, outage
):
    socket = await open_socket()

    async def store_down(connection, frame):
        raise outage

    monkeypatch.setitem(frames._handlers, "message.send", store_down)
    answer = await socket.answer_to(json.dumps({"type": "message.send", "room": "r", "client_id": "c7", "body": "hi"}))

    assert (answer["type"], answer["code"], answer["client_id"]) == ("error", "unavailable", "c7")
    assert await socket.still_answers()


async def test_a_value_redis_cannot_take_is_internal_not_unavailable(open_socket, monkeypatch):
    socket = await open_socket()

    async def bad_value(connection, frame):
        raise RedisDataError("Invalid input of type: 'dict'.")

    monkeypatch.setitem(frames._handlers, "message.send", bad_value)
    answer = await socket.answer_to(json.dumps({"type": "message.send", "room": "r", "client_id": "c9", "body": "hi"}))

    assert (answer["type"], answer["code"]) == ("error", "internal")
    assert await socket.still_answers()


async def test_a_socket_that_fails_still_leaves_its_groups_and_goes_offline(open_socket, monkeypatch):
    socket = await open_socket()
    user_id, channel = str(socket.user.pk), socket.consumer.channel_name
    assert await is_online(user_id)
    running = presence_handlers.running_heartbeats()

    async def broken(self, event):
        raise RuntimeError("a bug in a channel-layer handler")

    monkeypatch.setattr(type(socket.consumer), "rooms_changed", broken)
    await groups.tell_rooms_changed(user_id)
    with pytest.raises(RuntimeError):
        await socket.communicator.wait(timeout=TIMEOUT)
    assert not await is_online(user_id)
    assert not await in_group(groups.user_group(user_id), channel)
    assert presence_handlers.running_heartbeats() == running - 1


async def test_a_redis_error_in_presence_does_not_keep_the_socket_in_its_groups(open_socket, monkeypatch):
    socket = await open_socket()
    user_id, channel = str(socket.user.pk), socket.consumer.channel_name
    running = presence_handlers.running_heartbeats()

    async def failing_mark_gone(**kwargs):
        raise RedisError("Redis went away")

    monkeypatch.setattr(store, "mark_gone", failing_mark_gone)
    await socket.communicator.disconnect(timeout=TIMEOUT)
    assert not await in_group(groups.user_group(user_id), channel)
    assert presence_handlers.running_heartbeats() == running - 1


async def test_the_heartbeat_survives_a_redis_error(open_socket, monkeypatch, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    beats: list[str] = []
    beat_after_the_failure = asyncio.Event()
    real_mark_alive = store.mark_alive

    async def flaky_mark_alive(**kwargs):
        beats.append("tried")
        if len(beats) == 2:
            raise RedisError("Redis went away for a beat")
        await real_mark_alive(**kwargs)
        if len(beats) > 2:
            beat_after_the_failure.set()

    monkeypatch.setattr(store, "mark_alive", flaky_mark_alive)
    socket = await open_socket()
    async with asyncio.timeout(TIMEOUT):
        await beat_after_the_failure.wait()
    assert await is_online(str(socket.user.pk))
    assert await socket.still_answers()


async def test_binary_frames_and_non_objects_are_invalid_frames(open_socket):
    socket = await open_socket()
    await socket.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await socket.answer())["code"] == "invalid_frame"
    for text in ("[]", "42", '"ping"', '{"type": 7}', json.dumps({"kind": "ping"})):
        assert (await socket.answer_to(text))["code"] == "invalid_frame"
    assert await socket.still_answers()


async def test_a_frame_outside_the_contract_from_the_channel_layer_is_dropped_not_sent(open_socket):
    socket = await open_socket()
    user_group = groups.user_group(str(socket.user.pk))
    layer = get_channel_layer()
    await layer.group_send(user_group, {"type": groups.DELIVER, "frame": {"type": "receipt", "seq": "x"}})
    # The channel layer keeps order: the frame after it arrives first, and the socket lives on.
    await layer.group_send(user_group, {"type": groups.DELIVER, "frame": {"type": "pong"}})
    assert await socket.answer() == {"type": "pong"}
    assert await socket.still_answers()


async def test_a_dropped_frame_is_logged_by_its_type_and_place_without_its_text(open_socket, caplog):
    socket = await open_socket()
    text = f"a message's text {uuid.uuid4().hex}"
    user_group = groups.user_group(str(socket.user.pk))
    layer = get_channel_layer()
    with caplog.at_level(logging.ERROR, logger="echostream.consumer"):
        # A message.new whose message misses its fields: the text is in the frame.
        frame = {"type": "message.new", "seq": 4, "message": {"id": "m1", "room": "r1", "body": text}}
        await layer.group_send(user_group, {"type": groups.DELIVER, "frame": frame})
        # A text where the type goes: msgspec quotes a type it does not know in its error.
        await layer.group_send(user_group, {"type": groups.DELIVER, "frame": {"type": text, "room": "r1"}})
        await layer.group_send(user_group, {"type": groups.DELIVER, "frame": {"type": "pong"}})
        assert await socket.answer() == {"type": "pong"}
    lines = [record for record in caplog.records if "outside the contract" in record.getMessage()]
    assert len(lines) == 2
    assert all(text not in line.getMessage() and line.exc_info is None for line in lines)
    body, kind = lines
    assert body.getMessage().startswith("dropped a message.new frame outside the contract: ValidationError")
    assert (body.room, body.seq, body.message_id) == ("r1", 4, "m1")
    # msgspec quotes it as repr() does: in double quotes, for a text with an apostrophe.
    assert kind.getMessage() in {
        f"dropped a malformed frame outside the contract: ValidationError: Invalid value {quote}…{quote} - at `$.type`"
        for quote in "'\""
    }
    assert kind.room == "r1"


async def test_a_room_whose_last_frame_never_reached_the_socket_is_named_in_room_head(make_user, open_socket, settings):

    settings.DELIVERY_TAIL_CHECK_SECONDS = 0.1
    room = await Room.objects.acreate(name="tail")
    socket = await open_socket()
    await Membership.objects.acreate(room=room, user=socket.user)
    await socket.consumer.sync_rooms()
    await projection.do_show_room_event(event=created(room.id, uuid.uuid4().hex, "seen", seq=0))
    assert (await next_of(socket, "message.new"))["message"]["body"] == "seen"

    # The socket leaves the room's group, as if the channel layer dropped all that follows.
    group = groups.room_group(room.id)
    assert channel_layer.local_group_members(group) == {socket.consumer.channel_name}
    await get_channel_layer().group_discard(group, socket.consumer.channel_name)
    await projection.do_show_room_event(event=created(room.id, uuid.uuid4().hex, "the last word", seq=1))

    assert await next_of(socket, "room.head", "message.new") == {"type": "room.head", "room": room.id, "seq": 1}


async def test_a_room_event_is_checked_and_encoded_once_for_all_the_member_sockets_of_the_process(
    open_socket, monkeypatch
):
    room = await Room.objects.acreate(name="shared")
    sockets = [await open_socket() for _ in range(3)]
    for socket in sockets:
        await Membership.objects.acreate(room=room, user=socket.user)
        await socket.consumer.sync_rooms()
    checks: list[dict] = []
    check = wire.from_builtins

    def counting(data: dict) -> wire.ServerFrame:
        checks.append(data)
        return check(data)

    monkeypatch.setattr(wire, "from_builtins", counting)
    await projection.do_show_room_event(event=created(room.id, uuid.uuid4().hex, "to all three", seq=0))

    shown = [await next_of(socket, "message.new") for socket in sockets]
    assert [frame["message"]["body"] for frame in shown] == ["to all three"] * 3
    assert shown[0] == shown[1] == shown[2]
    assert len([data for data in checks if data["type"] == "message.new"]) == 1


async def next_of(socket, *types: str) -> dict:
    while True:
        frame = await socket.answer()
        if frame["type"] in types:
            return frame


@pytest.fixture
def renewals(monkeypatch) -> list[int]:
    """One item for each renewal of the database connection a socket's frame makes."""
    counted: list[int] = []
    renew = channels.consumer.aclose_old_connections

    async def counting() -> None:
        counted.append(1)
        await renew()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    return counted


async def test_a_frame_shown_to_the_socket_renews_no_database_connection_and_a_frame_received_does(
    open_socket, renewals, settings
):
    settings.DATABASE_RENEW_SECONDS = 0
    socket = await open_socket()
    renewals.clear()
    group = groups.user_group(str(socket.user.pk))
    await get_channel_layer().group_send(group, {"type": groups.DELIVER, "frame": {"type": "pong"}})
    assert await socket.answer() == {"type": "pong"}
    assert renewals == []
    assert await socket.still_answers()
    assert renewals == [1]


async def test_frames_received_soon_after_a_renewal_skip_it_until_it_is_due_again(open_socket, renewals, settings):
    settings.DATABASE_RENEW_SECONDS = 2
    first, second = await open_socket(), await open_socket()
    renewals.clear()  # opening them renewed it
    for socket in (first, second, first):
        assert await socket.still_answers()
    assert renewals == []
    await asyncio.sleep(2)
    assert await second.still_answers()
    assert await first.still_answers()
    assert renewals == [1]


async def test_frames_waiting_behind_a_shown_one_go_out_with_it_in_the_same_turn_in_order(open_socket):
    socket = await open_socket()
    layer = get_channel_layer()
    shown = [{"type": groups.DELIVER, "frame": {"type": "error", "code": "c", "detail": str(n)}} for n in range(4)]
    queue = layer._get_layer().channels[socket.consumer.channel_name]
    for message in shown[1:]:
        queue.put_nowait(layer.serialize(message))

    # No turn of the event loop between them: without it, only the first frame would be out.
    await socket.consumer.dispatch(shown[0])
    assert socket.communicator.output_queue.qsize() == 4

    assert [(await socket.answer())["detail"] for _ in shown] == ["0", "1", "2", "3"]
    assert queue.empty()
    assert await socket.still_answers()
