"""Live delivery beyond what the channel layer carries: a stack of its own whose channel layer
holds only a few frames per socket drops many at a modest load; clients that follow the
delivery rule (tests/system/client.py RoomCursors) still get every acknowledged message, once,
in seq order. And overload slows senders down (backpressure) instead of acknowledging."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.system.client import ChatClient
from tests.system.stack import Stack, private_stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]

ROOMS = 3
MEMBERS_PER_ROOM = 4
MESSAGES_PER_MEMBER = 20  # a room's history then fits one page of 100


@pytest.fixture
def tiny_channel_layer(services: None, tmp_path: Path) -> Iterator[Stack]:
    yield from private_stack(tmp_path, "tinylayer", CHANNEL_LAYER_CAPACITY="3", DELIVERY_TAIL_CHECK_SECONDS="1")


@pytest.fixture
def impatient_backpressure(services: None, tmp_path: Path) -> Iterator[Stack]:
    # Every event is "late", so each one shown refuses sends for the window after it. The web reads
    # the signal afresh for every send here: the next send comes within its usual 100 ms.
    yield from private_stack(
        tmp_path,
        "backpressure",
        BACKPRESSURE_MAX_LAG_SECONDS="0",
        BACKPRESSURE_WINDOW_SECONDS="3",
        BACKPRESSURE_READ_SECONDS="0",
    )


def client_maker(stack: Stack) -> Callable[[str], Awaitable[ChatClient]]:
    async def make(name: str) -> ChatClient:
        client = ChatClient(stack.base_url)
        await client.signup(f"{name}{uuid.uuid4().hex[:8]}")
        await client.connect()
        return client

    return make


@pytest.fixture
async def closing() -> AsyncIterator[list[ChatClient]]:
    made: list[ChatClient] = []
    yield made
    for client in made:
        await client.close()


async def answers(client: ChatClient, client_ids: set[str], *, timeout: float = 120) -> dict[str, dict]:
    """The answer (`message.ack`, `message.rejected` or `error`) to each of these sends."""
    answered: dict[str, dict] = {}
    async with asyncio.timeout(timeout):
        while len(answered) < len(client_ids):
            frame = await client.next_frame("message.ack", "message.rejected", "error", timeout=timeout)
            if frame.get("client_id") in client_ids:
                answered[frame["client_id"]] = frame
    return answered


async def test_every_acknowledged_message_reaches_every_member_once_in_order_despite_drops(
    tiny_channel_layer: Stack, closing: list[ChatClient]
):
    make = client_maker(tiny_channel_layer)
    rooms: dict[str, list[ChatClient]] = {}
    for number in range(ROOMS):
        members = [await make(f"m{number}x{n}") for n in range(MEMBERS_PER_ROOM)]
        closing.extend(members)
        room = await members[0].create_group(f"load {number}", [m.username for m in members[1:]])
        rooms[room["id"]] = members
    await asyncio.sleep(1)  # the sockets join their new rooms' groups
    for room_id, members in rooms.items():
        for member in members:
            await member.follow({room_id: -1})

    async def burst(member: ChatClient, room_id: str) -> set[str]:
        sent = {await member.send_message(room_id, f"{member.username} {n}") for n in range(MESSAGES_PER_MEMBER)}
        return {
            client_id for client_id, frame in (await answers(member, sent)).items() if frame["type"] == "message.ack"
        }

    acked_lists = await asyncio.gather(*(burst(m, room_id) for room_id, members in rooms.items() for m in members))
    acked: dict[str, set[str]] = {room_id: set() for room_id in rooms}
    for (room_id, _), sent in zip(((r, m) for r, ms in rooms.items() for m in ms), acked_lists, strict=True):
        acked[room_id] |= sent
    assert all(acked.values()), "no send was acknowledged"

    def shown(member: ChatClient, room_id: str) -> list[dict]:
        return [f for f in member.rooms.applied.get(room_id, []) if f["type"] == "message.new"]

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if all(
            acked[room_id] <= {f["message"]["client_id"] for f in shown(member, room_id)}
            for room_id, members in rooms.items()
            for member in members
        ):
            break
        await asyncio.sleep(0.5)

    for room_id, members in rooms.items():
        history = (await members[0].history(room_id, limit=100)).json()["messages"]
        stored = [message["client_id"] for message in history]
        assert acked[room_id] <= set(stored)
        for member in members:
            applied = shown(member, room_id)
            assert [f["message"]["client_id"] for f in applied] == stored, member.username
            assert [f["seq"] for f in applied] == [message["seq"] for message in history]
    repaired = sum(m.rooms.gaps for ms in rooms.values() for m in ms)
    assert repaired > 0, "no frame was dropped: the load did not test what it is for"


async def test_sends_beyond_the_backpressure_threshold_are_rate_limited_and_not_acknowledged(
    impatient_backpressure: Stack, closing: list[ChatClient]
):
    make = client_maker(impatient_backpressure)
    alice, bob = await make("alice"), await make("bob")
    closing.extend([alice, bob])
    room_id = (await alice.create_group("busy", [bob.username]))["id"]
    await asyncio.sleep(1)

    first = await alice.send_message(room_id, "first")
    assert (await answers(alice, {first}))[first]["type"] == "message.ack"
    assert (await bob.next_frame("message.new", timeout=30))["message"]["body"] == "first"

    refused = await alice.send_message(room_id, "refused")
    rejection = (await answers(alice, {refused}))[refused]
    assert (rejection["type"], rejection["reason"]) == ("message.rejected", "rate_limited")
    assert rejection["retry_after"] > 0

    await asyncio.sleep(rejection["retry_after"] + 0.5)
    later = await alice.send_message(room_id, "later")
    assert (await answers(alice, {later}))[later]["type"] == "message.ack"
    assert (await bob.next_frame("message.new", timeout=30))["message"]["body"] == "later"
    history = (await alice.history(room_id)).json()["messages"]
    assert [message["body"] for message in history] == ["first", "later"]
