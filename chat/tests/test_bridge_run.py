"""The bridge role run in-process against the real Kafka, MongoDB, Redis and channel layer:
records written straight to a room topic, as a hostile or broken producer would."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import hypothesis
import msgspec
import pytest
from channels.layers import get_channel_layer
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from chat import backpressure, bridge, repository
from echostream.core import events, groups, kafka, mongo, redis
from tests.outage import MongoOutage

pytestmark = pytest.mark.usefixtures("services")

# Everything here crosses Kafka on a busy shared machine: waits are generous, never asserted.
WAIT = 90


def mid(label: str) -> str:
    """A message id in the real format (32 hex digits), the same for the same label."""
    return uuid.uuid5(uuid.NAMESPACE_OID, label).hex


def created_json(room_id: str, message_id: str, body: str, *, occurred_at: str | None = None) -> bytes:
    return json.dumps(
        {
            "type": "message.created",
            "id": message_id,
            "room": room_id,
            "occurred_at": occurred_at or events.now().isoformat(),
            "actor": "1",
            "v": 1,
            "data": {"client_id": f"c-{message_id}", "body": body, "sender": "alice"},
        }
    ).encode()


def edited_json(room_id: str, message_id: str, body: str) -> bytes:
    return json.dumps(
        {
            "type": "message.edited",
            "id": uuid.uuid4().hex,
            "room": room_id,
            "occurred_at": events.now().isoformat(),
            "actor": "1",
            "v": 1,
            "data": {"message_id": message_id, "body": body},
        }
    ).encode()


def write(room_id: str, *values: bytes) -> None:
    kafka.ensure_room_topic(room_id)
    producer = kafka.make_sync_producer()
    for value in values:
        producer.produce(kafka.room_topic(room_id), value=value, key=room_id.encode())
    assert producer.flush(30) == 0


async def eventually_stored(message_id: str) -> dict:
    for _ in range(WAIT * 5):
        document = await repository.get(message_id)
        if document is not None:
            return document
        await asyncio.sleep(0.2)
    raise AssertionError(f"message {message_id} never stored")


def dead_letters_of(topic: str, count: int) -> list[dict]:
    """The first `count` dead letters about records of `topic`."""
    consumer = kafka.make_consumer(group_id=f"reader-{uuid.uuid4().hex}")
    found: list[dict] = []
    try:
        consumer.subscribe([kafka.deadletter_topic()])
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            record = consumer.poll(1)
            if record is None or record.error() is not None:
                continue
            letter = msgspec.json.decode(record.value())
            if letter["topic"] == topic:
                found.append(letter)
                if len(found) == count:
                    return found
        raise AssertionError(f"only {len(found)} dead letters about {topic}")
    finally:
        consumer.close()


@pytest.fixture
async def room() -> AsyncIterator[tuple[str, object, str]]:
    """A fresh room and a channel in its group, as a member's socket would be."""
    room_id = f"r{uuid.uuid4().hex[:10]}"
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(groups.room_group(room_id), channel)
    yield room_id, layer, channel
    await layer.group_discard(groups.room_group(room_id), channel)
    await mongo.close()
    await redis.client().aclose()


class Running:
    """The bridge role in this process, started and stopped as the command does."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(bridge.run(self.stop))

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, WAIT)


@pytest.fixture
async def running_bridge(room: tuple[str, object, str]) -> AsyncIterator[Running]:
    running = Running()
    yield running
    if not running.task.done():
        await running.finish()
    running.task.result()  # a bridge that died fails the test with its error


async def next_frame(layer: object, channel: str) -> dict:
    return (await asyncio.wait_for(layer.receive(channel), WAIT))["frame"]


async def test_a_record_that_cannot_be_stored_is_dead_lettered_and_the_next_is_stored_and_shown(room, running_bridge):
    room_id, layer, channel = room
    poison = created_json(room_id, mid(f"{room_id}-poison"), "from year 0", occurred_at="0001-01-01T00:00:00+14:00")
    await asyncio.to_thread(write, room_id, poison, created_json(room_id, mid(f"{room_id}-ok"), "after the poison"))

    frame = await next_frame(layer, channel)
    assert (frame["type"], frame["seq"], frame["message"]["body"]) == ("message.new", 1, "after the poison")
    assert (await eventually_stored(mid(f"{room_id}-ok")))["seq"] == 1
    letters = await asyncio.to_thread(dead_letters_of, kafka.room_topic(room_id), 2)
    assert {(letter["offset"], letter["role"]) for letter in letters} == {(0, "bridge-fanout"), (0, "bridge-store")}
    assert all("year" in letter["error"] for letter in letters)
    assert await repository.get(mid(f"{room_id}-poison")) is None
    assert not running_bridge.task.done()


@pytest.fixture
async def no_backpressure(settings) -> AsyncIterator[None]:
    settings.BACKPRESSURE_READ_SECONDS = 0
    await redis.client().delete(backpressure._key())
    yield
    await redis.client().delete(backpressure._key())


def write_dated(room_id: str, value: bytes, *, timestamp_ms: int) -> None:
    """A record written straight to the room's topic by a producer that dates it itself."""
    kafka.ensure_room_topic(room_id)
    producer = kafka.make_sync_producer()
    producer.produce(kafka.room_topic(room_id), value=value, key=room_id.encode(), timestamp=timestamp_ms)
    assert producer.flush(30) == 0


async def test_a_record_dated_years_ago_slows_no_sender(room, running_bridge, no_backpressure):
    room_id, layer, channel = room
    # Both its times say 2000: the bridge measures from the broker's, as it appended the record.
    year_2000 = created_json(room_id, mid(f"{room_id}-2000"), "from 2000", occurred_at="2000-01-01T00:00:00+00:00")
    await asyncio.to_thread(write_dated, room_id, year_2000, timestamp_ms=946_684_800_000)

    assert (await next_frame(layer, channel))["message"]["body"] == "from 2000"
    assert await backpressure.retry_after() is None


async def test_a_batch_the_fan_out_takes_late_slows_senders(room, running_bridge, no_backpressure, settings):
    room_id, layer, channel = room
    settings.BACKPRESSURE_MAX_LAG_SECONDS = 0  # every record is taken "late"
    await asyncio.to_thread(write, room_id, created_json(room_id, mid(f"{room_id}-late"), "late"))

    assert (await next_frame(layer, channel))["message"]["body"] == "late"
    assert await backpressure.retry_after() is not None


def counted(name: str, role: str) -> float:
    return REGISTRY.get_sample_value(name, {"role": role}) or 0.0


async def test_records_that_are_not_events_of_the_room_are_dead_lettered_and_skipped(room, running_bridge):
    room_id, layer, channel = room
    roles = ("bridge-fanout", "bridge-store")
    letters_before = {role: counted("echostream_dead_letters_total", role) for role in roles}
    applied_before = {role: counted("echostream_bridge_events_applied_total", role) for role in roles}
    await asyncio.to_thread(
        write,
        room_id,
        b"\xff\xfe{[ not json",
        created_json("another-room", mid(f"{room_id}-foreign"), "misplaced"),
        created_json(room_id, mid(f"{room_id}-ok"), "after the garbage"),
    )
    frame = await next_frame(layer, channel)
    assert (frame["seq"], frame["message"]["body"]) == (2, "after the garbage")
    assert (await eventually_stored(mid(f"{room_id}-ok")))["seq"] == 2
    letters = await asyncio.to_thread(dead_letters_of, kafka.room_topic(room_id), 4)
    assert sorted((letter["offset"], letter["role"]) for letter in letters) == [
        (0, "bridge-fanout"), (0, "bridge-store"), (1, "bridge-fanout"), (1, "bridge-store"),
    ]  # fmt: skip
    assert any("names room another-room" in letter["error"] for letter in letters)
    # Counted by the half that dead-lettered or applied them (other tests' records may come too).
    await running_bridge.finish()
    for role in roles:
        assert counted("echostream_dead_letters_total", role) >= letters_before[role] + 2
        assert counted("echostream_bridge_events_applied_total", role) >= applied_before[role] + 1


async def test_live_chat_goes_on_while_mongodb_is_unreachable_and_history_catches_up(room, settings):
    room_id, layer, channel = room
    outage = MongoOutage()
    await outage.start()
    settings.MONGODB_URI = outage.uri
    running = Running()
    try:
        await asyncio.to_thread(write, room_id, created_json(room_id, mid(f"{room_id}-m"), "while mongo is down"))
        frame = await next_frame(layer, channel)
        assert (frame["type"], frame["message"]["body"]) == ("message.new", "while mongo is down")
        assert outage.refused > 0  # the store half did try, and found MongoDB unreachable

        outage.end()
        assert (await eventually_stored(mid(f"{room_id}-m")))["body"] == "while mongo is down"
    finally:
        await running.finish()
        running.task.result()
        await outage.close()


async def test_the_prev_seq_chain_goes_on_across_a_bridge_restart(room):
    room_id, layer, channel = room
    chain = []
    for batch in (["one", "two"], ["three"]):
        running = Running()
        try:
            values = [created_json(room_id, mid(f"{room_id}-{body}"), body) for body in batch]
            await asyncio.to_thread(write, room_id, *values)
            chain += [((frame := await next_frame(layer, channel))["seq"], frame["prev_seq"]) for _ in batch]
        finally:
            await running.finish()
            running.task.result()
    assert chain == [(0, None), (1, 0), (2, 1)]


async def test_a_stop_while_mongodb_is_down_keeps_the_unstored_event_for_the_next_run(room, settings):
    room_id, layer, channel = room
    real_uri = settings.MONGODB_URI
    outage = MongoOutage()
    await outage.start()
    settings.MONGODB_URI = outage.uri
    first = Running()
    try:
        await asyncio.to_thread(write, room_id, created_json(room_id, mid(f"{room_id}-m"), "kept"))
        assert (await next_frame(layer, channel))["message"]["body"] == "kept"
    finally:
        await first.finish()  # returns: the store half gives up waiting, and commits nothing it did not do
        first.task.result()
        await outage.close()

    settings.MONGODB_URI = real_uri
    second = Running()
    try:
        assert (await eventually_stored(mid(f"{room_id}-m")))["body"] == "kept"
    finally:
        await second.finish()
        second.task.result()


async def test_a_change_to_an_older_message_waits_for_mongodb_without_holding_up_other_rooms(room, settings):
    room_id, layer, channel = room
    other_id, other_channel = f"r{uuid.uuid4().hex[:10]}", await layer.new_channel()
    await layer.group_add(groups.room_group(other_id), other_channel)
    settings.HISTORY_CACHE_SIZE = 2
    outage = MongoOutage()
    await outage.start()
    outage.end()
    settings.MONGODB_URI = outage.uri
    running = Running()
    try:
        older = [created_json(room_id, mid(f"{room_id}-old"), "original")]
        older += [created_json(room_id, mid(f"{room_id}-{n}"), f"newer {n}") for n in range(3)]
        await asyncio.to_thread(write, room_id, *older)
        assert [(await next_frame(layer, channel))["seq"] for _ in older] == [0, 1, 2, 3]
        await eventually_stored(mid(f"{room_id}-2"))

        outage.begin()
        change = edited_json(room_id, mid(f"{room_id}-old"), "changed")
        await asyncio.to_thread(
            write, room_id, change, created_json(room_id, mid(f"{room_id}-after"), "after the change")
        )
        await asyncio.to_thread(write, other_id, created_json(other_id, mid(f"{other_id}-m"), "elsewhere"))
        assert (await next_frame(layer, other_channel))["message"]["body"] == "elsewhere"

        outage.end()
        frames = [await next_frame(layer, channel) for _ in range(2)]
        assert [(f["type"], f["seq"], f["prev_seq"], f["message"]["body"]) for f in frames] == [
            ("message.updated", 4, 3, "changed"),
            ("message.new", 5, 4, "after the change"),
        ]
        assert (await eventually_stored(mid(f"{room_id}-after")))["seq"] == 5
        assert (await repository.get(mid(f"{room_id}-old")))["body"] == "changed"
    finally:
        await running.finish()
        running.task.result()
        await outage.close()
        await layer.group_discard(groups.room_group(other_id), other_channel)


# --- Fuzz: near-valid room events with hostile values, and raw bytes ---------------------

TEXT = st.text(st.characters(exclude_categories=()), max_size=30)  # lone surrogates included
INTS = st.one_of(st.integers(-5, 5), st.integers(2**63 - 2, 2**80), st.integers(max_value=-(2**63)))
TIMES = st.one_of(
    st.datetimes(
        timezones=st.builds(timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)))
    ).map(datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00", "soon", ""]),
    INTS,
)
JSON = st.recursive(
    st.none() | st.booleans() | INTS | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def hostile_records(room_id: str, known_id: str) -> st.SearchStrategy[bytes]:
    ids = st.just(known_id) | TEXT
    created_data = st.fixed_dictionaries(
        {"client_id": TEXT, "body": TEXT, "sender": TEXT},
        optional={"attachments": st.lists(TEXT, max_size=2), "moderation": st.none() | TEXT},
    )
    typed = st.one_of(
        st.tuples(st.just("message.created"), created_data),
        st.tuples(st.just("message.edited"), st.fixed_dictionaries({"message_id": ids, "body": TEXT})),
        st.tuples(st.just("message.deleted"), st.fixed_dictionaries({"message_id": ids})),
        st.tuples(st.sampled_from(["message.submitted", "message.rejected"]) | TEXT, JSON),
    )
    # Mostly the shape the decoder accepts, with hostile values in it; now and then a broken shape.
    fields = st.fixed_dictionaries(
        {"id": TEXT, "room": st.one_of(st.just(room_id), st.just(room_id), TEXT), "occurred_at": TIMES, "actor": TEXT},
        optional={"seq": INTS},
    )
    broken = st.fixed_dictionaries({}, optional={"v": INTS, "seq": JSON, "actor": INTS, "surprise": JSON})
    envelopes = st.builds(
        lambda typed, rest, broken: {"type": typed[0], "data": typed[1], **rest, **broken},
        typed,
        fields,
        st.one_of(st.just({}), st.just({}), broken),
    )
    as_json = envelopes.map(lambda envelope: json.dumps(envelope).encode())
    return st.one_of(as_json, as_json.map(lambda raw: raw[: len(raw) // 2]), st.binary(max_size=200))


@hypothesis.settings(
    max_examples=20,
    deadline=None,
    # One bridge serves every example, as one serves every record in production.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_room_topic_record_stops_the_bridge_or_the_messages_after_it(running_bridge, data):
    room_id = f"f{uuid.uuid4().hex[:10]}"
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(groups.room_group(room_id), channel)
    known = created_json(room_id, mid(f"{room_id}-known"), "a message to edit")
    hostile = data.draw(st.lists(hostile_records(room_id, mid(f"{room_id}-known")), min_size=1, max_size=10))
    after = created_json(room_id, mid(f"{room_id}-after"), "after the fuzz")
    await asyncio.to_thread(write, room_id, known, *hostile, after)

    async with asyncio.timeout(WAIT):
        while (frame := await next_frame(layer, channel))["message"]["id"] != mid(f"{room_id}-after"):
            assert frame["type"] in ("message.new", "message.updated")
    assert frame["seq"] == len(hostile) + 1
    assert (await eventually_stored(mid(f"{room_id}-after")))["seq"] == len(hostile) + 1
    assert not running_bridge.task.done()
    await layer.group_discard(groups.room_group(room_id), channel)
