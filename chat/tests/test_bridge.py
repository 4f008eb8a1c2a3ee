"""Reading records off a room topic, and the bridge's two halves applying room events
(against the real MongoDB, Redis and channel layer)."""

import asyncio
import uuid
from datetime import datetime

import bson.errors
import pymongo.errors
import pytest
from channels.layers import get_channel_layer
from redis import exceptions as redis_exceptions

from chat import bridge, cache, projection, projector, recent, repository
from echostream.core import events, groups, kafka, mongo, redis


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
def test_a_malformed_record_is_refused_with_why(value):
    with pytest.raises(projector.NotARoomEvent, match="malformed record in room r1 at 3"):
        projector.record_to_event(room_id="r1", offset=3, value=value)


def test_a_record_naming_another_room_is_refused():
    with pytest.raises(projector.NotARoomEvent, match="names room other"):
        projector.record_to_event(room_id="r1", offset=0, value=events.encode(created("other", uuid.uuid4().hex)))


def test_a_submission_on_a_room_topic_is_refused():
    submitted = events.MessageSubmitted(
        id=uuid.uuid4().hex, room="r1", occurred_at=events.now(), actor="1",
        data=events.SubmittedData(client_id="c", body="b", sender="alice"),
    )  # fmt: skip
    with pytest.raises(projector.NotARoomEvent, match="not a room event"):
        projector.record_to_event(room_id="r1", offset=0, value=events.encode(submitted))


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


async def apply_both(event: events.RoomEvent) -> None:
    """What the two halves of the bridge do with one event."""
    await projection.do_store_room_event(event=event)
    await projection.do_show_room_event(event=event)


async def test_a_shown_event_carries_its_time_beside_the_frame_for_the_delivery_latency(room_listener):
    room_id, layer, channel = room_listener
    event = created(room_id, uuid.uuid4().hex, "timed", seq=0)
    await apply_both(event)
    delivered = await layer.receive(channel)
    assert delivered["frame"]["message"]["body"] == "timed"
    assert delivered["occurred_at"] == event.occurred_at.timestamp()
    assert "occurred_at" not in delivered["frame"]  # the client's frame stays as the contract says


def edited(room_id: str, message_id: str, body: str, seq: int) -> events.MessageEdited:
    return events.MessageEdited(
        id=f"edit-{uuid.uuid4().hex}", room=room_id, seq=seq, occurred_at=events.now(), actor="1",
        data=events.EditedData(message_id=message_id, body=body),
    )  # fmt: skip


async def test_applying_a_created_event_stores_it_and_shows_it_to_the_room(room_listener):
    room_id, layer, channel = room_listener
    await apply_both(created(room_id, f"{room_id}-m", "hello", seq=0))
    delivered = await layer.receive(channel)
    assert delivered["frame"]["type"] == "message.new"
    assert delivered["frame"]["message"]["body"] == "hello"
    assert (await repository.get(f"{room_id}-m"))["body"] == "hello"


async def test_a_redelivered_event_is_neither_stored_nor_shown_twice(room_listener):
    room_id, layer, channel = room_listener
    event = created(room_id, f"{room_id}-m", seq=0)
    await apply_both(event)
    await apply_both(event)
    await apply_both(created(room_id, f"{room_id}-n", "next", seq=1))
    first, second = await layer.receive(channel), await layer.receive(channel)
    assert [first["frame"]["message"]["seq"], second["frame"]["message"]["seq"]] == [0, 1]
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [d["seq"] for d in documents] == [0, 1]


async def test_a_retry_published_twice_is_shown_and_stored_once(room_listener):
    room_id, layer, channel = room_listener
    await apply_both(created(room_id, f"{room_id}-m", "once", seq=0))
    await apply_both(created(room_id, f"{room_id}-m", "once", seq=1))
    await apply_both(created(room_id, f"{room_id}-z", "after", seq=2))
    shown = [(await layer.receive(channel))["frame"]["message"]["body"] for _ in range(2)]
    assert shown == ["once", "after"]
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [(d["seq"], d["body"]) for d in documents] == [(0, "once"), (2, "after")]


async def test_fan_out_shows_an_edit_of_a_recent_message_without_the_store(room_listener):
    room_id, layer, channel = room_listener
    await projection.do_show_room_event(event=created(room_id, f"{room_id}-m", "first", seq=0))
    await projection.do_show_room_event(event=edited(room_id, f"{room_id}-m", "second", seq=1))
    frames = [(await layer.receive(channel))["frame"] for _ in range(2)]
    assert [(f["type"], f["seq"], f["message"]["body"]) for f in frames] == [
        ("message.new", 0, "first"),
        ("message.updated", 1, "second"),
    ]
    assert await repository.get(f"{room_id}-m") is None


async def test_fan_out_waits_for_the_store_for_a_change_to_a_message_it_cannot_see(room_listener):
    room_id, _, _ = room_listener
    with pytest.raises(projection.HistoryNotReady):
        await projection.do_show_room_event(event=edited(room_id, f"{room_id}-old", "new text", seq=7))


async def test_shown_frames_chain_each_to_the_one_shown_before(room_listener):
    room_id, layer, channel = room_listener
    await apply_both(created(room_id, f"{room_id}-a", seq=0))
    await apply_both(created(room_id, f"{room_id}-a", seq=2))  # a duplicate: not shown, not chained
    await apply_both(created(room_id, f"{room_id}-b", seq=3))
    await apply_both(edited(room_id, f"{room_id}-a", "changed", seq=5))
    frames = [(await layer.receive(channel))["frame"] for _ in range(3)]
    assert [(f["seq"], f["prev_seq"]) for f in frames] == [(0, None), (3, 0), (5, 3)]


async def test_an_event_shown_again_after_a_crash_keeps_its_place_in_the_chain(room_listener):
    room_id, layer, channel = room_listener
    await apply_both(created(room_id, f"{room_id}-a", seq=0))
    again = created(room_id, f"{room_id}-b", seq=1)
    await apply_both(again)
    # The crash came after the frame went out but before the shown mark was kept.
    await redis.client().delete(cache._shown_key(again.id))
    await projection.do_show_room_event(event=again)
    frames = [(await layer.receive(channel))["frame"] for _ in range(3)]
    assert [(f["seq"], f["prev_seq"]) for f in frames] == [(0, None), (1, 0), (1, 0)]


async def test_fan_out_refuses_what_mongodb_could_not_store(room_listener):
    room_id, layer, channel = room_listener
    poison = created(room_id, f"{room_id}-p", seq=0)
    # Past the decoder's checks (which refuse this time) as a bug there would let it: assigning
    # skips the event's own checks, so the fan-out's last line of defence is what is tested.
    poison.occurred_at = datetime.fromisoformat("0001-01-01T00:00:00+14:00")
    with pytest.raises(OverflowError):
        await projection.do_show_room_event(event=poison)
    await apply_both(created(room_id, f"{room_id}-ok", "fine", seq=1))
    assert (await layer.receive(channel))["frame"]["message"]["body"] == "fine"


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (pymongo.errors.ServerSelectionTimeoutError("no servers"), True),
        (pymongo.errors.AutoReconnect("connection reset"), True),
        (pymongo.errors.NetworkTimeout("timed out"), True),
        (pymongo.errors.OperationFailure("shutting down", code=11600), True),
        # FerretDB's backend (PostgreSQL down, SQLite busy, a full disk): InternalError.
        (pymongo.errors.OperationFailure("backend failed", code=1, details={"codeName": "InternalError"}), True),
        # What the store half meets after it checked the document itself is MongoDB's doing.
        (pymongo.errors.WriteError("document failed validation", code=121), True),
        (pymongo.errors.OperationFailure("bad value", code=2), True),
        (redis_exceptions.ConnectionError("refused"), True),
        (redis_exceptions.TimeoutError("timed out"), True),
        (redis_exceptions.BusyLoadingError("LOADING Redis is loading the dataset in memory"), True),
        (redis_exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'"), True),
        (redis_exceptions.ReadOnlyError("READONLY You can't write against a read only replica."), True),
        (redis_exceptions.MasterDownError("MASTERDOWN Link with MASTER is down"), True),
        (redis_exceptions.ResponseError("BUSY Redis is busy running a script"), True),
        (redis_exceptions.ResponseError("WRONGTYPE"), True),
        (ConnectionRefusedError(), True),
        (pymongo.errors.DuplicateKeyError("E11000 duplicate key"), False),
        (OverflowError("date value out of range"), False),
        (bson.errors.InvalidDocument("key must not start with '$'"), False),
        (pymongo.errors.DocumentTooLarge("over 16 MB"), False),
        (redis_exceptions.DataError("Invalid input of type: 'dict'"), False),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), False),
    ],
)
def test_only_a_store_that_is_down_is_waited_for(error, outage):
    assert bridge.is_outage(error) is outage


def room_record(room_id: str, event: events.RoomEvent, offset: int) -> kafka.Message:
    return kafka.Message(topic=kafka.room_topic(room_id), partition=0, offset=offset, value=events.encode(event))


def failing_once(monkeypatch, module, name: str, error: Exception) -> list[Exception]:
    """Makes `module.name` raise `error` the first time, then behave; returns what it raised."""
    real, raised = getattr(module, name), []

    async def flaky(*args, **kwargs):
        if not raised:
            raised.append(error)
            raise error
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return raised


async def test_the_store_half_waits_out_a_ferretdb_backend_failure_rather_than_dead_letter(room_listener, monkeypatch):
    room_id, _, _ = room_listener
    monkeypatch.setattr(bridge, "OUTAGE_RETRY_SECONDS", 0.01)
    backend_down = pymongo.errors.OperationFailure(
        "PostgreSQL: connection refused", code=1, details={"codeName": "InternalError"}
    )
    raised = failing_once(monkeypatch, repository, "store_new", backend_down)
    message_id = uuid.uuid4().hex
    record = room_record(room_id, created(room_id, message_id, "kept", seq=None), offset=0)
    assert await bridge.process(record, half=bridge.STORE, stop=asyncio.Event()) is None
    assert raised == [backend_down]
    assert (await repository.get(message_id))["body"] == "kept"


async def test_the_store_half_refuses_what_mongodb_could_not_store_before_writing(room_listener, monkeypatch):
    room_id, _, _ = room_listener

    async def never(*args, **kwargs):
        raise AssertionError("wrote a document MongoDB cannot hold")

    monkeypatch.setattr(repository, "store_new", never)
    poison = created(room_id, f"{room_id}-p", seq=0)
    poison.occurred_at = datetime.fromisoformat("0001-01-01T00:00:00+14:00")
    with pytest.raises(OverflowError):
        await projection.do_store_room_event(event=poison)


async def test_the_fan_out_waits_out_redis_refusing_writes_rather_than_dead_letter(room_listener, monkeypatch):
    room_id, layer, channel = room_listener
    monkeypatch.setattr(bridge, "OUTAGE_RETRY_SECONDS", 0.01)
    oom = redis_exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'.")
    raised = failing_once(monkeypatch, groups, "send_to_room", oom)
    record = room_record(room_id, created(room_id, uuid.uuid4().hex, "shown", seq=None), offset=0)
    assert await bridge.process(record, half=bridge.FANOUT, stop=asyncio.Event()) is None
    assert raised == [oom]
    assert (await layer.receive(channel))["frame"]["message"]["body"] == "shown"


def test_a_revoked_partition_commits_what_was_finished_in_it_and_nothing_else():
    done = bridge._Done()
    for topic, offset in (("room.a", 4), ("room.a", 5), ("room.b", 9)):
        done.add(kafka.Message(topic=topic, partition=0, offset=offset))
    revoked = done.take([kafka.TopicPartition("room.a", 0), kafka.TopicPartition("room.c", 0)])
    assert [(p.topic, p.partition, p.offset) for p in revoked] == [("room.a", 0, 6)]
    assert [(p.topic, p.offset) for p in done.take()] == [("room.b", 10)]
    assert done.take() == []


async def test_a_message_id_seen_in_another_room_first_is_not_shown_again(room_listener):
    room_id, layer, channel = room_listener
    await apply_both(created(f"{room_id}-elsewhere", f"{room_id}-m", "first", seq=0))
    await apply_both(created(room_id, f"{room_id}-m", "same id, same seq, another room", seq=0))
    await apply_both(created(room_id, f"{room_id}-n", "next", seq=1))
    assert (await layer.receive(channel))["frame"]["message"]["body"] == "next"


async def test_a_record_to_dead_letter_while_kafka_is_down_is_left_uncommitted_on_stop(kafka_unreachable):
    # Kafka unreachable used to raise KafkaException out of the half, and the task group
    # cancelled both halves.
    poison = kafka.Message(topic=kafka.room_topic("r1"), partition=0, offset=9, value=b"garbage")
    stop, done = asyncio.Event(), bridge._Done()
    stop.set()
    with pytest.raises(bridge.Stopping):
        await bridge._process_batch(
            [poison],
            bridge._Consuming(half=bridge.FANOUT, consumer=None, done=done, parked=bridge._Parked(), stop=stop),
        )
    assert done.take() == []


async def test_a_run_of_creations_is_stored_and_shown_as_one_by_one_would(room_listener):
    room_id, layer, channel = room_listener
    run = [
        created(room_id, f"{room_id}-a", "one", seq=0),
        created(room_id, f"{room_id}-a", "one", seq=1),  # a retry published twice: once only
        created(room_id, f"{room_id}-b", "two", seq=2),
        created(room_id, f"{room_id}-c", "three", seq=3),
    ]
    for _ in range(2):  # a redelivered run changes nothing
        await projection.do_store_created(created=run)
        await projection.do_show_created(created=run)

    frames = [(await layer.receive(channel))["frame"] for _ in range(3)]
    assert [(f["seq"], f["prev_seq"], f["message"]["body"]) for f in frames] == [
        (0, None, "one"),
        (2, 0, "two"),
        (3, 2, "three"),
    ]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await layer.receive(channel)
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [(d["seq"], d["body"]) for d in documents] == [(0, "one"), (2, "two"), (3, "three")]
    # The room's first message was cached live: the cache holds its whole history.
    assert await recent.count_after(room_id=room_id, seq=-1, exclude_sender_id="nobody") == 3


async def test_a_run_s_cache_entries_and_its_chain_go_in_one_round_trip(room_listener, redis_pipelines):
    room_id, _, _ = room_listener
    await projection.do_show_created(created=[created(room_id, f"{room_id}-{n}", seq=n) for n in range(3)])

    def scripts(commands):
        return {command[1] for command in commands if command[0] == "EVAL"}

    (shared,) = [commands for commands in redis_pipelines if cache._SWAP_LAST_SHOWN in scripts(commands)]
    assert recent._PUT in scripts(shared)
