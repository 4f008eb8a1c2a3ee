"""A property-based fuzz of inbound records, through the worker's per-record processing
against the real database and Kafka: whatever the bytes, the record is published, refused
or dead-lettered, and nothing raises out."""

import json
import threading
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chat.models import Membership, Room
from echostream.core import events, kafka
from moderation import worker
from moderation.tests.kafka_probe import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()

DEEP = "\x00deep\x00"  # stands for a nesting too deep for Python's json module to write

ODD_STRINGS = [
    "",
    " ",
    "\n",
    "abc",
    "0",
    "-1",
    "007",
    "1e3",
    "99999999999999999999999",
    str(2**63),
    str(2**63 - 1),
    "\ud800",
    "a\udfffb",
    "\U0001f600",
    "\x00",
    "r.1",
    "../r",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-01-01T00:00:00",
    "2026-02-30T00:00:00Z",
    "message.created",
    "x" * 5000,
]

hostile = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([2**63 - 1, 2**63, -(2**63), 10**30]),
        st.floats(),
        st.text(max_size=30),
        st.sampled_from(ODD_STRINGS),
        st.just(DEEP),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)

TYPES = ["message.submitted", "message.edited", "message.deleted", "message.created", "message.rejected"]
ENVELOPE_FIELDS = ["id", "type", "room", "seq", "occurred_at", "actor", "v", "data"]
DATA_FIELDS = ["client_id", "body", "sender", "attachments", "moderation", "message_id", "reason", "detail"]


def valid_json(kind: str, *, room: str, actor: str) -> dict[str, Any]:
    submitted = {"client_id": "c1", "body": "hello", "sender": "alice", "attachments": []}
    data: dict[str, Any] = {
        "message.submitted": submitted,
        "message.created": {"client_id": "c1", "body": "hello", "sender": "alice"},
        "message.edited": {"message_id": uuid.uuid4().hex, "body": "changed"},
        "message.deleted": {"message_id": uuid.uuid4().hex},
        "message.rejected": {"client_id": "c1", "reason": "forbidden", "detail": "no"},
    }.get(kind, submitted)
    return {
        "type": kind,
        "id": events.message_id_for(room_id=room, sender_id=actor, client_id="c1")
        if kind == "message.submitted"
        else events.new_event_id(),
        "room": room,
        "occurred_at": events.now().isoformat(),
        "actor": actor,
        "v": 1,
        "data": data,
    }


def serialise(value: dict[str, Any], depth: int) -> bytes:
    text = json.dumps(value)  # ensure_ascii: a lone surrogate becomes a \ud800 escape
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth).encode()


mutation = st.tuples(
    st.sampled_from(["envelope", "data", "unknown"]),
    st.sampled_from(ENVELOPE_FIELDS + DATA_FIELDS + ["extra", "type"]),
    st.one_of(hostile, st.just("<remove>")),
)


@pytest.fixture
def cast():
    """A member, a stranger and a deactivated member of a real room with a topic."""
    room = Room.objects.create(name="fuzz")
    kafka.ensure_room_topic(room.pk)
    member = User.objects.create_user(username=f"m{uuid.uuid4().hex[:6]}", password="x")
    stranger = User.objects.create_user(username=f"s{uuid.uuid4().hex[:6]}", password="x")
    gone = User.objects.create_user(username=f"g{uuid.uuid4().hex[:6]}", password="x", is_active=False)
    Membership.objects.create(room=room, user=member)
    Membership.objects.create(room=room, user=gone)
    return room.pk, [str(member.pk), str(stranger.pk), str(gone.pk)]


@pytest.fixture
def dead_lettered(monkeypatch):
    """The records the worker dead-lettered (still put on the real dead-letter topic)."""
    seen: list[kafka.Message] = []
    real = kafka.dead_letter

    def spy(record: kafka.Message, *, error: str, role: str, stop: kafka.Stop | None = None) -> None:
        seen.append(record)
        real(record, error=error, role=role, stop=stop)

    monkeypatch.setattr(kafka, "dead_letter", spy)
    return seen


def judged(value: bytes | None, dead_lettered: list[kafka.Message]) -> None:
    inbound = record(value)
    dead_lettered.clear()
    verdict = worker.judge(inbound, stop=threading.Event())
    event(f"outcome: {type(verdict).__name__}")  # --hypothesis-show-statistics shows the mix
    if verdict is None:
        assert dead_lettered == [inbound]
        return
    assert dead_lettered == []
    if isinstance(verdict, worker.Publication):
        # What is published must be readable by the bridge.
        assert events.decode(events.encode(verdict.event)) == verdict.event


FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    kind=st.sampled_from([*TYPES, "message.exploded"]),
    who=st.integers(min_value=0, max_value=2),
    mutations=st.lists(mutation, max_size=4),
    depth=st.sampled_from([1, 50, 5000, 200_000]),
)
def test_a_near_valid_envelope_never_raises_out_of_the_worker(cast, dead_lettered, kind, who, mutations, depth):
    room_id, actors = cast
    value = valid_json(kind, room=room_id, actor=actors[who])
    for where, field, new in mutations:
        target = value["data"] if where == "data" and isinstance(value.get("data"), dict) else value
        name = f"x-{field}" if where == "unknown" else field
        if new == "<remove>":
            target.pop(name, None)
        else:
            target[name] = new
    judged(serialise(value, depth), dead_lettered)


@FUZZ
@given(value=st.one_of(st.none(), st.binary(max_size=300)))
def test_raw_bytes_never_raise_out_of_the_worker(cast, dead_lettered, value):
    judged(value, dead_lettered)
