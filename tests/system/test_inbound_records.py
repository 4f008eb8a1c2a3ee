"""Hostile records on the inbound topic and a graceful stop, through the real moderation role:
no record stops it or speaks for someone else, and a SIGTERM loses and repeats nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import uuid
from typing import Any

import pytest

from echostream.core import events, kafka
from moderation.tests.kafka_probe import dead_letters
from tests.system.client import ChatClient, milestone
from tests.system.inspect import stored_messages
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


async def pair(stack: Stack, name: str) -> tuple[ChatClient, str, ChatClient, str]:
    """(alice, alice's user id, bob, the id of a group of the two)."""
    alice, bob = ChatClient(stack.base_url), ChatClient(stack.base_url)
    alice_id = (await alice.signup(f"alice{uuid.uuid4().hex[:8]}"))["id"]
    await bob.signup(f"bob{uuid.uuid4().hex[:8]}")
    await alice.connect()
    await bob.connect()
    room = await alice.create_group(name, [bob.username])
    return alice, str(alice_id), bob, room["id"]


def submission(*, room: str, actor: str, client_id: str, body: str, **changes: Any) -> dict[str, Any]:
    value = {
        "type": "message.submitted",
        "id": events.message_id_for(room_id=room, sender_id=actor, client_id=client_id),
        "room": room,
        "occurred_at": events.now().isoformat(),
        "actor": actor,
        "v": 1,
        "data": {"client_id": client_id, "body": body, "sender": "mallory"},
    }
    value.update(changes)
    return value


def encoded(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


async def test_poison_records_are_dead_lettered_and_the_room_goes_on(stack: Stack):
    alice, alice_id, bob, room_id = await pair(stack, "poison")
    try:
        poison = {
            "actor abc": encoded(submission(room=room_id, actor="abc", client_id="p1", body="x")),
            "actor too large": encoded(
                submission(room=room_id, actor="99999999999999999999999", client_id="p2", body="x")
            ),
            "year 1": encoded(
                submission(
                    room=room_id, actor=alice_id, client_id="p3", body="x", occurred_at="0001-01-01T00:00:00+14:00"
                )
            ),
            "forged id": encoded(
                submission(room=room_id, actor=alice_id, client_id="p4", body="x", id=events.new_event_id())
            ),
            "lone surrogate": encoded(submission(room=room_id, actor=alice_id, client_id="p5", body="\ud800")),
            "not UTF-8": b"\xff\xfe{",
            "deep": encoded(submission(room=room_id, actor=alice_id, client_id="p6", body="x")).replace(
                b'"v": 1', b'"v": 1, "deep": ' + b"[" * 100_000 + b"]" * 100_000
            ),
        }
        newer = submission(room=room_id, actor=alice_id, client_id="newer", body="from a newer process")
        newer["trace"] = {"span": 1}
        producer = kafka.make_sync_producer()
        for value in poison.values():
            producer.produce(kafka.inbound_topic(), key=room_id.encode(), value=value)
        producer.produce(
            kafka.inbound_topic(),
            key=room_id.encode(),
            value=encoded(submission(room=room_id, actor=alice_id, client_id="forged", body="not from mallory")),
        )
        producer.produce(kafka.inbound_topic(), key=room_id.encode(), value=encoded(newer))
        assert producer.flush(30) == 0

        await alice.send_message(room_id, "after the poison", client_id="valid")

        received = [frame["message"] for frame in await bob.collect("message.new", 3, timeout=60)]
        assert [(message["body"], message["sender"]) for message in received] == [
            ("not from mallory", alice.username),
            ("from a newer process", alice.username),
            ("after the poison", alice.username),
        ]
        # Same partition, in order: the valid message came after every poison record was dead-lettered.
        letters = {letter["value_base64"]: letter for letter in dead_letters(kafka.inbound_topic())}
        for name, value in poison.items():
            letter = letters.get(base64.b64encode(value).decode())
            assert letter is not None, f"{name} was not dead-lettered"
            assert letter["role"] == "moderation"
        assert stack.processes["moderation"].poll() is None
    finally:
        await alice.close()
        await bob.close()


async def test_sigterm_of_the_moderation_role_exits_cleanly_and_loses_and_repeats_nothing(stack: Stack):
    alice, _, bob, room_id = await pair(stack, "sigterm")
    total = 30
    acked: list[str] = []
    halfway = asyncio.Event()

    async def send_steadily() -> None:
        for n in range(total):
            await alice.send_message(room_id, f"steady {n}", client_id=f"steady-{n}")
            frame = await alice.next_frame("message.ack", "message.rejected", "error", timeout=30)
            assert frame["type"] == "message.ack", frame
            acked.append(f"steady {n}")
            if len(acked) == total // 2:
                halfway.set()

    sender = asyncio.create_task(send_steadily())
    try:
        await milestone(halfway, sender)
        moderation = stack.processes.pop("moderation")
        moderation.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(moderation.wait, 120) == 0
        assert "moderation stopped" in stack.log_path("moderation").read_text()
        stack.start("moderation")
        await sender

        received = [frame["message"] for frame in await bob.collect("message.new", total, timeout=90)]
        assert [message["body"] for message in received] == [f"steady {n}" for n in range(total)]
        assert [f for f in await bob.quiet_frames(2.0) if f["type"] == "message.new"] == []
        assert sorted(document["body"] for document in await stored_messages(room_id)) == sorted(acked)
    finally:
        sender.cancel()
        if "moderation" not in stack.processes:
            stack.start("moderation")
        await alice.close()
        await bob.close()
