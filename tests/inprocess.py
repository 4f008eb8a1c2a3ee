"""An in-process socket for the apps' tests: the real consumer, the real Redis channel
layer, presence and stores. A conftest imports the fixtures it needs from here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from echostream.consumer import ChatConsumer
from echostream.core import channel_layer, events, kafka, mongo, redis
from presence import store

# Frames come slowly when four other test runs share two cores.
TIMEOUT = 20


class Socket:
    def __init__(self, user: Any) -> None:
        self.user = user
        self.consumer = ChatConsumer()
        self.communicator = WebsocketCommunicator(self.consumer, "/ws/")
        self.communicator.scope["user"] = user

    async def open(self) -> None:
        connected, _ = await self.communicator.connect(timeout=TIMEOUT)
        assert connected
        # The consumer handles one thing at a time: once it answers, its connect is done.
        assert await self.still_answers()

    async def send(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.communicator.send_json_to(frame)

    async def answer(self) -> dict[str, Any]:
        return await self.communicator.receive_json_from(timeout=TIMEOUT)

    async def answer_to(self, text: str) -> dict[str, Any]:
        await self.send(text)
        return await self.answer()

    async def still_answers(self) -> bool:
        return await self.answer_to('{"type": "ping"}') == {"type": "pong"}

    async def silent(self) -> bool:
        return await self.communicator.receive_nothing(timeout=0.5)


@pytest.fixture
def make_user(transactional_db: None) -> Callable[[], Awaitable[Any]]:
    async def make() -> Any:
        return await sync_to_async(get_user_model().objects.create_user)(
            username=f"u{uuid.uuid4().hex[:10]}", password="x"
        )

    return make


def fresh_channel_layer() -> None:
    """Makes the next get_channel_layer() build a new layer. Channels keeps one per process,
    which a server's one event loop never outlives; each test runs its own loop, and a layer
    whose receive lock was taken in an ended loop (a socket still receiving when that loop
    closed) fails every later receive with "bound to a different event loop"."""
    channel_layers.backends.clear()


@pytest.fixture
async def open_socket(services: None, make_user: Any) -> AsyncIterator[Callable[..., Awaitable[Socket]]]:
    fresh_channel_layer()
    opened: list[Socket] = []

    async def open_one(user: Any = None) -> Socket:
        socket = Socket(user or await make_user())
        await socket.open()
        opened.append(socket)
        return socket

    yield open_one
    for socket in opened:
        if not socket.communicator.future.done():
            await socket.communicator.disconnect(timeout=TIMEOUT)
    await get_channel_layer().flush()
    fresh_channel_layer()
    await mongo.close()
    await redis.client().aclose()


async def is_online(user_id: str) -> bool:
    return user_id in await store.online_user_ids([user_id])


async def in_group(group: str, channel: str) -> bool:
    """Whether the channel (of this process) is a member of the group."""
    return channel in channel_layer.local_group_members(group)


def put_event_in_room(room_id: str, count: int = 1) -> None:
    """`count` events in the room's topic (as the moderation worker would put them), at seq 0 on."""
    producer = kafka.make_sync_producer()
    for n in range(count):
        created = events.MessageCreated(
            id=f"{room_id}-m{n}",
            room=room_id,
            occurred_at=events.now(),
            actor="1",
            data=events.CreatedData(client_id=f"c{n}", body="hello", sender="someone"),
        )
        producer.produce(kafka.room_topic(room_id), key=room_id.encode(), value=events.encode(created))
    assert producer.flush(30) == 0
