"""Killing a role mid-stream loses no acknowledged message and stores or shows none twice."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.system.client import ChatClient
from tests.system.inspect import stored_messages
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]

MESSAGES = 60


async def send_steadily(client: ChatClient, room_id: str, count: int, acked: list[str]) -> None:
    """Sends one message at a time, each after the previous one's ack, like a busy person."""
    for n in range(count):
        await client.send_message(room_id, f"steady {n}", client_id=f"steady-{n}")
        frame = await client.next_frame("message.ack", "message.rejected", "error", timeout=30)
        assert frame["type"] == "message.ack", frame
        acked.append(f"steady {n}")


@pytest.mark.parametrize("role", ["bridge", "moderation"])
async def test_sigkill_of_a_role_mid_stream_loses_and_repeats_nothing(stack: Stack, role: str):
    alice, bob = ChatClient(stack.base_url), ChatClient(stack.base_url)
    await alice.signup(f"alice{uuid.uuid4().hex[:8]}")
    await bob.signup(f"bob{uuid.uuid4().hex[:8]}")
    await alice.connect()
    await bob.connect()
    room = await alice.create_group(f"crash-{role}", [bob.username])
    acked: list[str] = []
    sender = asyncio.create_task(send_steadily(alice, room["id"], MESSAGES, acked))
    try:
        while len(acked) < MESSAGES // 3:
            await asyncio.sleep(0.05)
        stack.kill(role)
        while len(acked) < 2 * MESSAGES // 3:
            await asyncio.sleep(0.05)
        stack.start(role)
        await sender

        received = [frame["message"] for frame in await bob.collect("message.new", MESSAGES, timeout=60)]
        assert sorted(message["body"] for message in received) == sorted(acked)
        assert [message["seq"] for message in received] == sorted(message["seq"] for message in received)
        assert [f for f in await bob.quiet_frames(2.0) if f["type"] == "message.new"] == []
        stored = await stored_messages(room["id"])
        assert sorted(document["body"] for document in stored) == sorted(acked)
    finally:
        sender.cancel()
        if role not in stack.processes:
            stack.start(role)
        await alice.close()
        await bob.close()
