"""A socket's sends wait for Kafka together, not one after another (ChatConsumer.finish_later),
over an in-process socket: the real consumer, Redis channel layer and Kafka. The acknowledgements
are held back at a gate (the real ones still come from Kafka), so that what the socket does
before Kafka answers can be seen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat import services
from echostream.core import kafka
from tests.inprocess import TIMEOUT, Socket

pytestmark = pytest.mark.usefixtures("services")


class HeldAcks:
    """Counts what the web enqueues on the inbound topic, and holds each acknowledgement
    until `release()`."""

    def __init__(self) -> None:
        self.enqueued = 0
        self.counted = asyncio.Condition()
        self.released = asyncio.Event()

    async def enqueue(self, *, room_id: str, value: bytes) -> asyncio.Future[Any]:
        delivered = await _real_enqueue(room_id=room_id, value=value)
        async with self.counted:
            self.enqueued += 1
            self.counted.notify_all()
        return asyncio.ensure_future(self._after_release(delivered))

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT), self.counted:
            await self.counted.wait_for(lambda: self.enqueued >= count)

    async def _after_release(self, delivered: asyncio.Future[Any]) -> Any:
        await self.released.wait()
        return await delivered

    def release(self) -> None:
        self.released.set()


_real_enqueue = kafka.enqueue_inbound


@pytest.fixture
async def held(monkeypatch) -> AsyncIterator[HeldAcks]:
    await sync_to_async(kafka.ensure_inbound_topic)()
    acks = HeldAcks()
    monkeypatch.setattr(kafka, "enqueue_inbound", acks.enqueue)
    yield acks
    acks.release()  # before the sockets close: a closing socket waits for its sends' answers


async def a_room_of(make_user: Any) -> tuple[Any, str]:
    user, other = await make_user(), await make_user()
    room, _ = await sync_to_async(services.do_open_dm)(user=user, other_username=other.username)
    return user, room.id


def send(room_id: str, client_id: str) -> dict[str, Any]:
    return {"type": "message.send", "room": room_id, "client_id": client_id, "body": f"text of {client_id}"}


async def acks_of(socket: Socket, count: int) -> list[str]:
    """The client_ids of the socket's next `count` acks (other frames are passed over)."""
    acked: list[str] = []
    while len(acked) < count:
        frame = await socket.answer()
        assert frame["type"] not in ("message.rejected", "error"), frame
        if frame["type"] == "message.ack":
            acked.append(frame["client_id"])
    return acked


async def test_a_socket_s_sends_are_all_on_their_way_before_the_first_is_acknowledged(make_user, open_socket, held):
    user, room_id = await a_room_of(make_user)
    socket = await open_socket(user)

    for number in range(5):
        await socket.send_frame(send(room_id, f"c{number}"))
    await held.reach(5)
    held.release()

    assert sorted(await acks_of(socket, 5)) == [f"c{number}" for number in range(5)]


async def test_past_the_limit_a_socket_reads_its_next_send_only_when_one_is_acknowledged(
    make_user, open_socket, held, settings
):
    settings.WEBSOCKET_SENDS_IN_FLIGHT = 2
    user, room_id = await a_room_of(make_user)
    socket = await open_socket(user)

    for number in range(4):
        await socket.send_frame(send(room_id, f"c{number}"))
    await held.reach(2)
    await asyncio.sleep(0.5)
    assert held.enqueued == 2
    held.release()

    assert sorted(await acks_of(socket, 4)) == ["c0", "c1", "c2", "c3"]
    assert held.enqueued == 4


async def test_a_send_in_flight_when_its_socket_closes_is_not_produced_again_when_retried(make_user, open_socket, held):
    user, room_id = await a_room_of(make_user)
    first = await open_socket(user)
    await first.send_frame(send(room_id, "c1"))
    await held.reach(1)

    closing = asyncio.create_task(first.communicator.disconnect(timeout=TIMEOUT))
    held.release()
    await closing
    second = await open_socket(user)
    await second.send_frame(send(room_id, "c1"))

    assert await acks_of(second, 1) == ["c1"]
    assert held.enqueued == 1
