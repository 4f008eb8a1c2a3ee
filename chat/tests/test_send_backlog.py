"""A send that waited too long in its web process before it was read is refused, over an
in-process socket (the real consumer, Redis and Kafka): the web queue stamps each frame with
its arrival (echostream.web.ArrivalStampedQueue); here the frames carry that stamp themselves."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat import services
from echostream.core import frames, kafka
from echostream.web import ArrivalStampedQueue
from tests.inprocess import Socket

pytestmark = pytest.mark.usefixtures("services")


async def a_room_of(make_user: Any) -> tuple[Any, str]:
    user, other = await make_user(), await make_user()
    room, _ = await sync_to_async(services.do_open_dm)(user=user, other_username=other.username)
    return user, room.id


async def send_arrived(socket: Socket, frame: dict[str, Any], *, seconds_ago: float) -> None:
    await socket.communicator.send_input(
        {"type": "websocket.receive", "text": json.dumps(frame), frames.ARRIVED_AT: time.monotonic() - seconds_ago}
    )


async def answer_about(socket: Socket, client_id: str) -> dict[str, Any]:
    while True:
        frame = await socket.answer()
        if frame.get("client_id") == client_id:
            return frame


async def test_a_send_read_long_after_it_arrived_is_refused_and_the_next_fresh_one_is_acknowledged(
    make_user, open_socket, settings
):
    settings.BACKPRESSURE_MAX_WAIT_SECONDS = 5
    settings.BACKPRESSURE_WINDOW_SECONDS = 3
    await sync_to_async(kafka.ensure_inbound_topic)()
    user, room_id = await a_room_of(make_user)
    socket = await open_socket(user)
    send = {"type": "message.send", "room": room_id, "body": "hello"}

    await send_arrived(socket, {**send, "client_id": "late"}, seconds_ago=8)
    refused = await answer_about(socket, "late")
    await send_arrived(socket, {**send, "client_id": "fresh"}, seconds_ago=0)
    acknowledged = await answer_about(socket, "fresh")

    assert (refused["type"], refused["reason"], refused["retry_after"]) == ("message.rejected", "rate_limited", 3)
    assert acknowledged["type"] == "message.ack"


def test_the_web_queue_stamps_frames_received_with_their_arrival_and_nothing_else():
    queue = ArrivalStampedQueue()
    before = time.monotonic()
    queue.put_nowait({"type": "websocket.receive", "text": "{}"})
    queue.put_nowait({"type": "websocket.disconnect", "code": 1000})

    received, disconnected = queue.get_nowait(), queue.get_nowait()
    assert before <= received[frames.ARRIVED_AT] <= time.monotonic()
    assert frames.ARRIVED_AT not in disconnected
