"""Property-based fuzz of the socket door (hypothesis), in-process against the real Redis
channel layer, presence, MongoDB and Kafka.

Whatever a client sends (any JSON value, near-valid frames of every type with hostile
values, raw text), the consumer never crashes, answers each frame exactly once with
`error` or `message.rejected` (or the valid answer), and cleans up when the socket ends.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import services as chat_services
from echostream.consumer import ChatConsumer
from echostream.core import groups, mongo, redis
from presence import handlers as presence_handlers
from tests.inprocess import TIMEOUT, fresh_channel_layer, in_group, is_online, put_event_in_room

pytestmark = pytest.mark.usefixtures("services")

# Placeholders, replaced in the frame's text by the ids of the test's rooms.
OWN_ROOM, STRANGERS_ROOM = "@own-room@", "@strangers-room@"
# Replaced by nesting deeper than any parser's stack would take, and by long strings (kept
# out of the examples so that hypothesis' reports stay readable).
DEEP, LONG, HUGE = "@deep@", "@long@", "@huge@"
REPLACEMENTS = {
    json.dumps(DEEP): "[" * 3000 + "]" * 3000,
    json.dumps(LONG): json.dumps("x" * 5000),
    json.dumps(HUGE): json.dumps("x" * 70_000),
}

hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, -2, 2**63 - 1, 2**63, 10**15, 1e308, -0.0, 0.5]),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\udfff", "\x00", LONG, HUGE, DEEP]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
rooms = st.sampled_from([OWN_ROOM, STRANGERS_ROOM, "no-such-room", ""]) | hostile
seqs = st.integers(min_value=-3, max_value=3) | hostile


def near_valid(frame_type: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Frames of a type whose fields are mostly valid-looking, some hostile; maybe an unknown
    field more, maybe one field fewer."""
    mostly_valid = {name: st.one_of(value, value, value, hostile) for name, value in fields.items()}
    full = st.fixed_dictionaries({"type": st.just(frame_type), **mostly_valid}, optional={"surprise": hostile})

    def without_one(frame: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.sampled_from(sorted(frame)).map(lambda gone: {k: v for k, v in frame.items() if k != gone})

    return full | full.flatmap(without_one)


# Well-formed frames, so that valid answers and refusals are mixed with the hostile ones.
well_formed = st.one_of(
    st.builds(
        lambda room, client_id: {"type": "message.send", "room": room, "client_id": client_id, "body": "hi"},
        st.sampled_from([OWN_ROOM, STRANGERS_ROOM]),
        st.uuids().map(str),
    ),
    st.builds(
        lambda room, seq: {"type": "receipt", "room": room, "seq": seq, "kind": "read"},
        st.sampled_from([OWN_ROOM, STRANGERS_ROOM]),
        st.sampled_from([0, 1, 10**15]),
    ),
    st.builds(lambda room: {"type": "resume", "rooms": {room: -1}}, st.sampled_from([OWN_ROOM, STRANGERS_ROOM])),
    st.builds(
        lambda room: {"type": "message.delete", "room": room, "id": "m-none"},
        st.sampled_from([OWN_ROOM, STRANGERS_ROOM]),
    ),
)
frames = st.one_of(
    well_formed,
    near_valid("message.send", room=rooms, client_id=st.text(min_size=1, max_size=8), body=st.text(max_size=30)),
    near_valid("message.edit", room=rooms, id=st.text(max_size=8), body=st.text(max_size=30)),
    near_valid("message.delete", room=rooms, id=st.text(max_size=8)),
    near_valid("typing", room=rooms, state=st.booleans()),
    near_valid("receipt", room=rooms, seq=seqs, kind=st.sampled_from(["delivered", "read"])),
    near_valid("resume", rooms=st.dictionaries(rooms.filter(lambda r: isinstance(r, str)), seqs, max_size=3)),
    st.fixed_dictionaries({"type": st.text(max_size=12)}, optional={"room": rooms}),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10) | hostile,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
        max_leaves=10,
    ),
)
texts = st.one_of(
    frames.map(lambda frame: json.dumps(frame)),
    st.text(max_size=50),
    st.sampled_from(["", "{", '{"type":', "[" * 1500, '{"type": "resume", "rooms": ' + "{" * 2000, "\ufeff{}"]),
)

# What a frame of each type may be answered with, besides `error` and `message.rejected`.
VALID_ANSWERS = {
    "message.send": {"message.ack"},
    "receipt": {"receipt"},
    "resume": {"resume.done"},
}
# Frames that a good one may leave unanswered: typing (its own sockets are not told) and a
# receipt that moves no watermark (nothing to tell the room).
MAY_BE_SILENT = {"typing", "receipt"}
ROOM_EVENTS = {"message.new", "message.updated"}


def frame_type_of(text: str) -> str | None:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return frame.get("type") if isinstance(frame, dict) and isinstance(frame.get("type"), str) else None


@pytest.fixture
def world(transactional_db) -> dict[str, Any]:
    """A user with a room whose log holds one event, and a room of strangers."""
    users = [get_user_model().objects.create_user(username=f"f{uuid.uuid4().hex[:10]}", password="x") for _ in range(3)]
    own, _ = chat_services.do_open_dm(user=users[0], other_username=users[1].username)
    strangers, _ = chat_services.do_open_dm(user=users[1], other_username=users[2].username)
    put_event_in_room(own.id)
    return {"user": users[0], OWN_ROOM: own.id, STRANGERS_ROOM: strangers.id}


async def answers_to(communicator: WebsocketCommunicator, text: str, *, may_be_silent: bool) -> list[dict[str, Any]]:
    """Every frame the socket answers `text` with: those before the pong of a ping sent after
    it, or the next one if none came before (a broadcast takes the channel layer's way round;
    for a frame that may be left unanswered, only if one comes soon)."""
    # send_input, not send_to: an empty frame is a frame too.
    await communicator.send_input({"type": "websocket.receive", "text": text})
    await communicator.send_to(text_data='{"type": "ping"}')
    answers: list[dict[str, Any]] = []
    while (answer := await communicator.receive_json_from(timeout=TIMEOUT)) != {"type": "pong"}:
        answers.append(answer)
    if not [answer for answer in answers if answer["type"] not in ROOM_EVENTS]:
        if not may_be_silent or not await communicator.receive_nothing(timeout=0.5):
            answers.append(await communicator.receive_json_from(timeout=TIMEOUT))
    return answers


async def exercise(world: dict[str, Any], sent: list[str]) -> None:
    fresh_channel_layer()  # each example runs in an event loop of its own
    user_id = str(world["user"].pk)
    running = presence_handlers.running_heartbeats()
    consumer = ChatConsumer()
    communicator = WebsocketCommunicator(consumer, "/ws/")
    communicator.scope["user"] = world["user"]
    try:
        assert (await communicator.connect(timeout=TIMEOUT))[0]
        for text in sent:
            may_be_silent = frame_type_of(text) in MAY_BE_SILENT
            answered = await answers_to(communicator, text, may_be_silent=may_be_silent)
            answers = [a for a in answered if a["type"] not in ROOM_EVENTS]
            if answers and answers[-1]["type"] == "resume.done":
                # A resume names the rooms it may not see one by one before it is done.
                refused = answers[:-1]
                assert all((a["type"], a["reason"]) == ("message.rejected", "forbidden") for a in refused), answers
                answers = answers[-1:]
            allowed = {"error", "message.rejected"} | VALID_ANSWERS.get(frame_type_of(text) or "", set())
            if may_be_silent and not answers:
                continue
            assert len(answers) == 1 and answers[0]["type"] in allowed, (text[:300], answers)
        assert not communicator.future.done(), "the consumer stopped"
        await communicator.disconnect(timeout=TIMEOUT)
        assert presence_handlers.running_heartbeats() == running
        assert not await is_online(user_id)
        assert not await in_group(groups.user_group(user_id), consumer.channel_name)
    finally:
        communicator.stop(exceptions=False)
        await mongo.close()
        await redis.client().aclose()


def as_sent(text: str, world: dict[str, Any]) -> str:
    for placeholder in (OWN_ROOM, STRANGERS_ROOM):
        text = text.replace(placeholder, world[placeholder])
    for placeholder, replacement in REPLACEMENTS.items():
        text = text.replace(placeholder, replacement)
    return text


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sent=st.lists(texts.filter(lambda text: frame_type_of(text) != "ping"), min_size=1, max_size=4))
def test_every_frame_gets_one_answer_and_the_socket_survives_and_cleans_up(world, sent):
    async_to_sync(exercise)(world, [as_sent(text, world) for text in sent])
