"""The roles' logs as production writes them (LOG_FORMAT=json), at DEBUG so that every call
site that logs per message writes its line: each line is JSON and names its role, the lines about
a message name its room, event and seq, and no line holds a message's text, an edit's, a
password or a session key, whatever the socket and the topics were sent."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from echostream.core import events, kafka
from tests.system.client import ChatClient
from tests.system.stack import Stack, private_stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]

ROLES = ("web", "moderation", "bridge")


@pytest.fixture(scope="module")
def stack(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from private_stack(
        Path(tmp_path_factory.mktemp("stack-json-logs")), "jsonlogs", LOG_FORMAT="json", LOG_LEVEL="DEBUG"
    )


def entries(stack: Stack, role: str) -> list[dict[str, Any]]:
    """Every line of the role's log, parsed; fails on a line that is not a JSON object."""
    parsed = []
    for number, line in enumerate(stack.log_path(role).read_text().splitlines(), 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{role}.log line {number} is not JSON: {line[:500]!r}")
        assert isinstance(entry, dict), line
        parsed.append(entry)
    return parsed


async def wait_for_log(stack: Stack, role: str, text: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while stack.log_path(role).read_text().count(text) < count:
        assert time.monotonic() < deadline, f"{role}.log has fewer than {count} of {text!r}:\n{stack.describe()}"
        await asyncio.sleep(0.2)


def marker(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex}"


async def test_every_line_is_json_with_its_role_and_no_line_holds_a_text_or_a_secret(stack: Stack, settings):
    # The test process writes to the stack's topics.
    settings.ECHOSTREAM_NAMESPACE = stack.env["ECHOSTREAM_NAMESPACE"]
    password = marker("pw")
    secrets = {
        "body": marker("body"),
        "edited": marker("edited"),
        "bad frame": marker("badframe"),
        "odd frame": marker("oddframe"),
        # Quotes inside: msgspec quotes the value in its error without escaping them.
        "bad inbound tag": marker('it\'s a "bad" tag'),
        "forged inbound": marker("forged"),
        "bad room record": marker("badroom"),
        "password": password,
        "wrong password": marker("wrongpw"),
    }
    alice, bob = ChatClient(stack.base_url), ChatClient(stack.base_url)
    try:
        alice_id = str((await alice.signup(f"alice{uuid.uuid4().hex[:8]}", password=password))["id"])
        await bob.signup(f"bob{uuid.uuid4().hex[:8]}", password=password)
        wrong = await bob.post("/api/auth/login/", {"username": bob.username, "password": secrets["wrong password"]})
        assert wrong.status_code in (400, 401, 403), wrong.text
        right = await bob.post("/api/auth/login/", {"username": bob.username, "password": password})
        assert right.status_code == 200, right.text
        session_keys = [value for name, value in bob.http.cookies.items() if name == "sessionid"]
        await alice.connect()
        await bob.connect()
        room_id = (await alice.create_group("logs", [bob.username]))["id"]

        # A message and its edit, through the socket.
        await alice.send_message(room_id, secrets["body"], client_id="m1")
        message = (await bob.next_frame("message.new", timeout=30))["message"]
        assert message["body"] == secrets["body"]
        await alice.edit(room_id, message["id"], secrets["edited"])
        assert (await bob.next_frame("message.updated", timeout=30))["message"]["body"] == secrets["edited"]

        # Frames a client should not send: not JSON, and outside the contract.
        await alice.send_frame('{"type": "message.send", "body": "' + secrets["bad frame"])
        assert (await alice.next_frame("error"))["code"] == "invalid_json"
        await alice.send_frame(
            {"type": "message.send", "room": room_id, "client_id": "m2", "body": secrets["odd frame"], "x": 1}
        )
        assert (await alice.next_frame("message.rejected"))["reason"] == "invalid"

        # Records no web process writes: a type that is none (the parser quotes it), a forged
        # id around a real-looking text, and a room record that is no event.
        forged = {
            "type": "message.submitted",
            "id": events.new_event_id(),
            "room": room_id,
            "occurred_at": events.now().isoformat(),
            "actor": alice_id,
            "v": 1,
            "data": {"client_id": "forged", "body": secrets["forged inbound"], "sender": "mallory"},
        }
        producer = kafka.make_sync_producer()
        for value in ({**forged, "type": secrets["bad inbound tag"]}, forged):
            producer.produce(kafka.inbound_topic(), key=room_id.encode(), value=json.dumps(value).encode())
        producer.produce(
            kafka.room_topic(room_id), key=room_id.encode(), value=json.dumps({"type": secrets["bad room record"]})
        )
        assert producer.flush(30) == 0
        # The same partitions, in order: once this arrives, both roles have passed the records.
        await alice.send_message(room_id, "after", client_id="m3")
        assert (await bob.next_frame("message.new", timeout=60))["message"]["body"] == "after"
        await wait_for_log(stack, "moderation", "dead-lettered", 2)
        await wait_for_log(stack, "bridge", "dead-lettered", 2)  # by each half
    finally:
        await alice.close()
        await bob.close()
    stack.stop()  # its last lines too

    logged = {role: entries(stack, role) for role in ROLES}
    for role, lines in logged.items():
        assert lines, f"{role} logged nothing"
        for entry in lines:
            assert entry["role"] == role, entry
            assert {"timestamp", "level", "logger", "message"} <= entry.keys(), entry
    everything = "\n".join(stack.log_path(role).read_text() for role in ROLES)
    for what, secret in [*secrets.items(), *(("session key", key) for key in session_keys)]:
        # The unique part too: JSON escapes what the text has of quotes.
        assert secret not in everything and secret[-32:] not in everything, f"the {what} is in a log line"

    # The lines about a message say which.
    for role in ("moderation", "bridge"):
        about = [entry for entry in logged[role] if entry.get("room") == room_id]
        assert any({"event_id", "seq"} <= entry.keys() for entry in about), f"no {role} line names event and seq"
    letters = [entry for entry in logged["moderation"] if entry["message"].startswith("dead-lettered")]
    assert len(letters) == 2 and all(entry["room"] == room_id for entry in letters)
    assert any("Invalid value '…'" in entry["message"] for entry in letters)
    bridged = [entry for entry in logged["bridge"] if entry["message"].startswith("dead-lettered")]
    assert {entry["consumer"] for entry in bridged} == {"bridge-fanout", "bridge-store"}
    assert all((entry["room"], entry["level"]) == (room_id, "ERROR") and "seq" in entry for entry in bridged)
    # uvicorn's access log and its socket lines, as records.
    access = [entry for entry in logged["web"] if entry["logger"] == "uvicorn.access"]
    assert any(entry.get("path") == "/api/auth/signup/" and entry.get("status") == 201 for entry in access)
    assert any(entry["message"] == "WSCONNECT /ws/" for entry in access)
    assert any(entry.get("user_id") == alice_id for entry in logged["web"])
