"""A SIGTERM stops the bridge gracefully: it finishes the batch in hand, commits what each half
finished, exits 0, and once restarted every message arrives once, its frames still chained."""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest

from tests.system.client import ChatClient, milestone
from tests.system.inspect import stored_messages
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]

MESSAGES = 45


async def send_steadily(
    client: ChatClient, room_id: str, acked: list[str], milestones: dict[int, asyncio.Event]
) -> None:
    for n in range(MESSAGES):
        await client.send_message(room_id, f"steady {n}", client_id=f"steady-{n}")
        frame = await client.next_frame("message.ack", "message.rejected", "error", timeout=30)
        assert frame["type"] == "message.ack", frame
        acked.append(f"steady {n}")
        if len(acked) in milestones:
            milestones[len(acked)].set()


async def test_sigterm_of_the_bridge_mid_stream_exits_0_and_loses_and_repeats_nothing(stack: Stack):
    alice, bob = ChatClient(stack.base_url), ChatClient(stack.base_url)
    await alice.signup(f"alice{uuid.uuid4().hex[:8]}")
    await bob.signup(f"bob{uuid.uuid4().hex[:8]}")
    await alice.connect()
    await bob.connect()
    room = await alice.create_group("sigterm-bridge", [bob.username])
    acked: list[str] = []
    stop_at, restart_at = asyncio.Event(), asyncio.Event()
    sender = asyncio.create_task(
        send_steadily(alice, room["id"], acked, {MESSAGES // 3: stop_at, 2 * MESSAGES // 3: restart_at})
    )
    try:
        await milestone(stop_at, sender)
        bridge = stack.processes.pop("bridge")
        bridge.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(bridge.wait, 60) == 0
        await milestone(restart_at, sender)
        stack.start("bridge")
        await sender

        frames = await bob.collect("message.new", MESSAGES, timeout=90)
        assert sorted(frame["message"]["body"] for frame in frames) == sorted(acked)
        assert [f for f in await bob.quiet_frames(2.0) if f["type"] == "message.new"] == []
        # Each frame names the one shown before it: across the restart too, the chain has no hole.
        assert [frame["prev_seq"] for frame in frames] == [None] + [frame["seq"] for frame in frames[:-1]]
        stored = await stored_messages(room["id"], at_least=MESSAGES)
        assert sorted(document["body"] for document in stored) == sorted(acked)
        assert "bridge-fanout stopped" in stack.log_path("bridge").read_text()
    finally:
        sender.cancel()
        if "bridge" not in stack.processes:
            stack.start("bridge")
        await alice.close()
        await bob.close()
