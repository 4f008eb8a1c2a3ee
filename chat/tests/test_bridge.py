"""The bridge's two halves: reading records off a room topic, and applying room events
(against the real MongoDB, Redis and channel layer)."""

import uuid

import pytest
from channels.layers import get_channel_layer

from chat import projector, repository, services
from echostream.core import events, groups, mongo, redis


def created(room_id: str, message_id: str, body: str = "hi", seq: int | None = None) -> events.MessageCreated:
    return events.MessageCreated(
        id=message_id,
        room=room_id,
        seq=seq,
        occurred_at=events.now(),
        actor="1",
        data=events.CreatedData(client_id=f"c-{message_id}", body=body, sender="alice"),
    )


def test_a_record_becomes_its_event_with_the_offset_as_seq():
    event = projector.record_to_event(room_id="r1", offset=17, value=events.encode(created("r1", uuid.uuid4().hex)))
    assert isinstance(event, events.MessageCreated)
    assert (event.seq, event.data.body) == (17, "hi")


@pytest.mark.parametrize(
    "value",
    [None, b"", b"garbage", b'{"type":"message.created","id":"x"}', b'{"type":"message.created","surprise":1}'],
)
def test_a_malformed_record_is_skipped_and_logged(value, caplog):
    assert projector.record_to_event(room_id="r1", offset=3, value=value) is None
    assert "skipped malformed record in room r1 at 3" in caplog.text


def test_a_record_naming_another_room_is_skipped(caplog):
    value = events.encode(created("other", uuid.uuid4().hex))
    assert projector.record_to_event(room_id="r1", offset=0, value=value) is None
    assert "names room other" in caplog.text


def test_a_submission_on_a_room_topic_is_skipped(caplog):
    submitted = events.MessageSubmitted(
        id=uuid.uuid4().hex, room="r1", occurred_at=events.now(), actor="1",
        data=events.SubmittedData(client_id="c", body="b", sender="alice"),
    )  # fmt: skip
    assert projector.record_to_event(room_id="r1", offset=0, value=events.encode(submitted)) is None
    assert "not a room event" in caplog.text


@pytest.fixture
async def room_listener(services):
    """A channel in a fresh room's group, as a member's socket would be."""
    room_id = f"r{uuid.uuid4().hex[:8]}"
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(groups.room_group(room_id), channel)
    await repository.ensure_indexes()
    yield room_id, layer, channel
    await layer.group_discard(groups.room_group(room_id), channel)
    await mongo.close()
    await redis.client().aclose()


async def test_applying_a_created_event_stores_it_and_shows_it_to_the_room(room_listener):
    room_id, layer, channel = room_listener
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-m", "hello", seq=0))
    delivered = await layer.receive(channel)
    assert delivered["frame"]["type"] == "message.new"
    assert delivered["frame"]["message"]["body"] == "hello"
    assert (await repository.get(f"{room_id}-m"))["body"] == "hello"


async def test_a_redelivered_event_is_neither_stored_nor_shown_twice(room_listener):
    room_id, layer, channel = room_listener
    event = created(room_id, f"{room_id}-m", seq=0)
    await services.do_apply_room_event(event=event)
    await services.do_apply_room_event(event=event)
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-n", "next", seq=1))
    first, second = await layer.receive(channel), await layer.receive(channel)
    assert [first["frame"]["message"]["seq"], second["frame"]["message"]["seq"]] == [0, 1]
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [d["seq"] for d in documents] == [0, 1]


async def test_a_retry_published_twice_is_shown_and_stored_once(room_listener):
    room_id, layer, channel = room_listener
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-m", "once", seq=0))
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-m", "once", seq=1))
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-z", "after", seq=2))
    shown = [(await layer.receive(channel))["frame"]["message"]["body"] for _ in range(2)]
    assert shown == ["once", "after"]
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [(d["seq"], d["body"]) for d in documents] == [(0, "once"), (2, "after")]


async def test_each_shown_frame_names_the_seq_of_the_event_shown_before_it(room_listener):
    room_id, layer, channel = room_listener
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-m", "first", seq=0))
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-m", "first", seq=1))  # a retry: not shown
    await services.do_apply_room_event(event=created(room_id, f"{room_id}-n", "second", seq=2))
    frames = [(await layer.receive(channel))["frame"] for _ in range(2)]
    assert [(frame["seq"], frame["prev_seq"]) for frame in frames] == [(0, None), (2, 0)]
