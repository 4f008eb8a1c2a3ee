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


async def send_steadily(
    client: ChatClient, room_id: str, acked: list[str], milestones: dict[int, asyncio.Event]
) -> None:
    """Sends one message right after the previous one's ack, like a busy person, marking milestones."""
    for n in range(MESSAGES):
        await client.send_message(room_id, f"steady {n}", client_id=f"steady-{n}")
        frame = await client.next_frame("message.ack", "message.rejected", "error", timeout=30)
        assert frame["type"] == "message.ack", frame
        acked.append(f"steady {n}")
        if len(acked) in milestones:
            milestones[len(acked)].set()


@pytest.mark.parametrize("role", ["bridge", "moderation"])
async def test_sigkill_of_a_role_mid_stream_loses_and_repeats_nothing(stack: Stack, role: str):
    alice, bob = ChatClient(stack.base_url), ChatClient(stack.base_url)
    await alice.signup(f"alice{uuid.uuid4().hex[:8]}")
    await bob.signup(f"bob{uuid.uuid4().hex[:8]}")
    await alice.connect()
    await bob.connect()
    room = await alice.create_group(f"crash-{role}", [bob.username])
    acked: list[str] = []
    kill_at, restart_at = asyncio.Event(), asyncio.Event()
    sender = asyncio.create_task(
        send_steadily(alice, room["id"], acked, {MESSAGES // 3: kill_at, 2 * MESSAGES // 3: restart_at})
    )
    try:
        # The role dies while messages keep flowing, and comes back while they still do.
        await kill_at.wait()
        stack.kill(role)
        await restart_at.wait()
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
