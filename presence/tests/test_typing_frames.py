"""`typing` frames over in-process sockets, against the real Kafka, Redis and MongoDB."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from chat import services as chat_services
from echostream.core import kafka, mongo

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def room(make_user, open_socket):
    """A DM: the typist's socket, the other member's socket (after the typist's presence
    frame), and the room id."""
    typist, other = await make_user(), await make_user()
    dm, _ = await sync_to_async(chat_services.do_open_dm)(user=typist, other_username=other.username)
    listener = await open_socket(other)
    typing = await open_socket(typist)
    assert (await listener.answer())["type"] == "presence"
    return typing, listener, dm.id


async def test_typing_reaches_the_other_members_and_never_the_typist_or_a_stranger(room, open_socket):
    typing, listener, room_id = room
    stranger = await open_socket()
    await typing.send_frame({"type": "typing", "room": room_id, "state": True})
    assert await listener.answer() == {"type": "typing", "room": room_id, "user": typing.user.username, "state": True}
    assert await typing.silent()
    assert await stranger.silent()


async def test_stopping_is_told_once(room):
    typing, listener, room_id = room
    await typing.send_frame({"type": "typing", "room": room_id, "state": True})
    await listener.answer()
    await typing.send_frame({"type": "typing", "room": room_id, "state": False})
    await typing.send_frame({"type": "typing", "room": room_id, "state": False})
    assert (await listener.answer())["state"] is False
    assert await listener.silent()


async def test_a_typists_closing_socket_clears_their_typing(room):
    typing, listener, room_id = room
    await typing.send_frame({"type": "typing", "room": room_id, "state": True})
    await listener.answer()
    await typing.communicator.disconnect()
    frames = [await listener.answer(), await listener.answer()]
    assert {"type": "typing", "room": room_id, "user": typing.user.username, "state": False} in frames


async def test_typing_never_reaches_kafka_or_mongodb(room):
    typing, listener, room_id = room
    log_before = await asyncio.to_thread(kafka.room_offsets, room_id)
    collections_before = {
        name: await mongo.collection(name).count_documents({}) for name in await mongo.collection_names()
    }
    for state in (True, True, False):
        await typing.send_frame({"type": "typing", "room": room_id, "state": state})
        await listener.answer()
    assert await asyncio.to_thread(kafka.room_offsets, room_id) == log_before
    assert {
        name: await mongo.collection(name).count_documents({}) for name in await mongo.collection_names()
    } == collections_before


async def test_typing_in_a_strangers_room_is_forbidden_and_tells_no_one(room, open_socket):
    _, listener, room_id = room
    stranger = await open_socket()
    await stranger.send_frame({"type": "typing", "room": room_id, "state": True})
    answer = await stranger.answer()
    assert (answer["type"], answer["reason"]) == ("message.rejected", "forbidden")
    assert await listener.silent()


@pytest.mark.parametrize("frame", [{"room": 5, "state": True}, {"state": True}, {"room": "r", "state": "yes"}])
async def test_a_malformed_typing_frame_is_an_error(room, frame):
    typing, listener, _ = room
    answer = await typing.answer_to(json.dumps({"type": "typing", **frame}))
    assert (answer["type"], answer["code"]) == ("error", "invalid_frame")
    assert await listener.silent()


async def test_typing_over_the_rate_limit_is_dropped_without_an_answer(room, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "typing": (1, 0.01)}
    typing, listener, room_id = room
    await typing.send_frame({"type": "typing", "room": room_id, "state": True})
    await typing.send_frame({"type": "typing", "room": room_id, "state": False})
    assert (await listener.answer())["state"] is True
    assert await listener.silent()
    assert await typing.still_answers()
