"""The operator's replay and rebuild_projection commands against a room with known content."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import UTC, datetime

import pytest

from chat import repository
from echostream.core import mongo
from tests.system.client import ChatClient
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


@pytest.fixture(scope="module")
def known_room(stack: Stack) -> dict:
    """m0..m4, a pause with its time noted, m5..m7; then m1 edited and m6 deleted."""

    async def build() -> dict:
        alice, bob = ChatClient(stack.base_url), ChatClient(stack.base_url)
        await alice.signup(f"alice{uuid.uuid4().hex[:8]}")
        await bob.signup(f"bob{uuid.uuid4().hex[:8]}")
        await alice.connect()
        room = await alice.create_group("known", [bob.username])
        messages = []
        for n in range(8):
            if n == 5:
                await asyncio.sleep(1.5)
                pause = datetime.now(UTC)
                await asyncio.sleep(1.5)
            await alice.send_message(room["id"], f"m{n}")
            messages.append((await alice.next_frame("message.new"))["message"])
        await alice.edit(room["id"], messages[1]["id"], "m1 edited")
        await alice.delete_message(room["id"], messages[6]["id"])
        await alice.collect("message.updated", 2)
        await alice.close()
        await bob.close()
        return {"room": room["id"], "messages": messages, "pause": pause}

    return asyncio.run(build())


def replay(stack: Stack, *args: str) -> list[str]:
    return stack.manage("replay", *args).splitlines()


def test_replay_from_a_seq_prints_the_events_from_there_in_order(stack, known_room):
    lines = replay(stack, known_room["room"], "--from-seq", str(known_room["messages"][3]["seq"]), "--format", "jsonl")
    printed = [json.loads(line) for line in lines]
    assert [(e["type"], e["data"].get("body")) for e in printed] == [
        ("message.created", "m3"),
        ("message.created", "m4"),
        ("message.created", "m5"),
        ("message.created", "m6"),
        ("message.created", "m7"),
        ("message.edited", "m1 edited"),
        ("message.deleted", None),
    ]
    assert [e["seq"] for e in printed] == sorted(e["seq"] for e in printed)
    assert printed[0]["seq"] == known_room["messages"][3]["seq"]


def test_replay_since_a_time_starts_at_the_first_event_after_it(stack, known_room):
    lines = replay(stack, known_room["room"], "--since", known_room["pause"].isoformat(), "--format", "jsonl")
    assert [json.loads(line)["data"].get("body") for line in lines] == ["m5", "m6", "m7", "m1 edited", None]


def test_replay_until_a_time_stops_there_and_text_is_readable(stack, known_room):
    lines = replay(stack, known_room["room"], "--until", known_room["pause"].isoformat())
    assert len(lines) == 5
    assert lines[0].split()[0] == str(known_room["messages"][0]["seq"])
    assert "message.created" in lines[0] and lines[0].endswith(": m0")


def test_replay_of_an_unknown_room_says_what_to_do(stack):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        stack.manage("replay", "no-such-room")
    assert "has no topic" in failed.value.stderr


async def documents(room_id: str) -> list[dict]:
    try:
        return await repository.changed_after(room_id=room_id, seq=-1)
    finally:
        await mongo.close()


def test_dropping_the_history_and_rebuilding_it_gives_back_the_same_documents(stack, known_room):
    before = asyncio.run(documents(known_room["room"]))
    assert len(before) == 8 and any(d["deleted"] for d in before) and any(d["edited_at"] for d in before)

    output = stack.manage("rebuild_projection", "--all", "--drop")

    assert "room(s)" in output
    assert asyncio.run(documents(known_room["room"])) == before


def test_rebuilding_one_room_again_changes_nothing(stack, known_room):
    before = asyncio.run(documents(known_room["room"]))
    stack.manage("rebuild_projection", "--room", known_room["room"])
    stack.manage("rebuild_projection", "--room", known_room["room"])
    assert asyncio.run(documents(known_room["room"])) == before


def test_dropping_one_room_s_history_forgets_what_its_log_lacks_and_rebuilds_the_rest(stack, known_room):
    before = asyncio.run(documents(known_room["room"]))
    # A message the log does not hold, as one stored from a topic since re-created would be.
    stray = {**before[0], "_id": uuid.uuid4().hex, "seq": 1000, "version_seq": 1000, "body": "stray"}
    assert asyncio.run(store(stray)) is repository.Stored.NEW

    stack.manage("rebuild_projection", "--room", known_room["room"], "--drop")

    assert asyncio.run(documents(known_room["room"])) == before


async def store(message: dict) -> repository.Stored:
    try:
        return await repository.store_new(message)
    finally:
        await mongo.close()
