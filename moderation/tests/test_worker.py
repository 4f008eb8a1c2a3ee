"""The moderation worker against the real database and Kafka: every record of a batch is
published, refused or dead-lettered, and none stops the rest."""

import json
import logging
import threading
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from chat.models import Membership, Room
from echostream.core import events, kafka
from moderation import flood, worker
from moderation.models import BannedPhrase, Sanction
from moderation.selectors import Lookups
from moderation.tests.kafka_probe import dead_letters, record, room_values

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()


@pytest.fixture
def member():
    """(room id, the member) for a room whose topic exists."""
    user = User.objects.create_user(username=f"bob{uuid.uuid4().hex[:6]}", password="x")
    room = Room.objects.create(name="g")
    Membership.objects.create(room=room, user=user)
    kafka.ensure_room_topic(room.pk)
    return room.pk, user


def submission_json(*, room: str, actor: str, client_id: str = "c1", **data: object) -> dict:
    return {
        "type": "message.submitted",
        "id": events.message_id_for(room_id=room, sender_id=actor, client_id=client_id),
        "room": room,
        "occurred_at": events.now().isoformat(),
        "actor": actor,
        "v": 1,
        "data": {"client_id": client_id, "body": "hello", "sender": "alice", **data},
    }


def raw(value: dict) -> bytes:
    return json.dumps(value).encode()


def run_batch(records: list[kafka.Message]) -> None:
    producer = kafka.make_sync_producer()
    worker.handle_batch(producer, records, stop=threading.Event())


@pytest.mark.parametrize(
    "actor",
    [
        "abc",  # issue 6: the worker raised ValueError and exited, at every restart
        "99999999999999999999999",  # issue 6: too large for the database
    ],
)
def test_a_record_whose_actor_is_not_a_user_id_is_dead_lettered_and_the_batch_goes_on(member, actor):
    room_id, bob = member
    poison = record(raw(submission_json(room=room_id, actor=actor, client_id="poison")))
    valid = record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="after")))

    run_batch([poison, valid])

    published = [events.decode(value) for value in room_values(room_id)]
    assert [(event.data.client_id, event.actor) for event in published] == [("after", str(bob.pk))]
    (letter,) = dead_letters(poison.topic())
    assert (letter["offset"], letter["role"]) == (poison.offset(), "moderation")
    assert "actor" in letter["error"]


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"\xff\xfe",
        b"{not json",
        b'{"type":"message.exploded"}',
        b'{"type":"message.submitted","occurred_at":"0001-01-01T00:00:00+14:00"}',
    ],
)
def test_a_record_that_does_not_decode_is_dead_lettered(member, value):
    poison = record(value)
    run_batch([poison])
    (letter,) = dead_letters(poison.topic())
    assert letter["error"].startswith("InvalidEvent")


def test_a_room_event_on_the_inbound_topic_is_dead_lettered(member):
    room_id, bob = member
    created = submission_json(room=room_id, actor=str(bob.pk))
    created["type"] = "message.created"
    poison = record(raw(created))
    run_batch([poison])
    assert "MessageCreated is not an inbound event" in dead_letters(poison.topic())[0]["error"]
    assert room_values(room_id) == []


def test_a_record_of_a_user_who_does_not_exist_is_dead_lettered(member):
    room_id, _ = member
    poison = record(raw(submission_json(room=room_id, actor=str(2**63 - 1))))
    run_batch([poison])
    assert "not an active user" in dead_letters(poison.topic())[0]["error"]


def test_a_record_of_a_deactivated_user_is_dead_lettered(member):
    room_id, bob = member
    User.objects.filter(pk=bob.pk).update(is_active=False)
    poison = record(raw(submission_json(room=room_id, actor=str(bob.pk))))
    run_batch([poison])
    assert "not an active user" in dead_letters(poison.topic())[0]["error"]
    assert room_values(room_id) == []


def test_a_submission_with_a_forged_message_id_is_dead_lettered(member):
    room_id, bob = member
    forged = {**submission_json(room=room_id, actor=str(bob.pk)), "id": events.new_event_id()}
    poison = record(raw(forged))
    run_batch([poison])
    assert "message id" in dead_letters(poison.topic())[0]["error"]
    assert room_values(room_id) == []


def test_a_forged_sender_is_shown_as_the_actor(member):
    room_id, bob = member
    run_batch([record(raw(submission_json(room=room_id, actor=str(bob.pk), sender="mallory")))])
    (value,) = room_values(room_id)
    created = events.decode(value)
    assert isinstance(created, events.MessageCreated)
    assert created.data.sender == bob.get_username()


def test_a_record_from_a_newer_process_with_an_extra_field_is_published(member):
    room_id, bob = member
    newer = submission_json(room=room_id, actor=str(bob.pk), reactions=[])
    newer["trace"] = {"span": "abc"}
    run_batch([record(raw(newer))])
    assert [events.decode(value).data.body for value in room_values(room_id)] == ["hello"]


@pytest.mark.parametrize("occurred_at", ["2000-01-01T00:00:00+00:00", "2199-01-01T00:00:00+00:00"])
def test_a_submission_dated_far_from_its_record_is_dead_lettered_and_the_batch_goes_on(member, occurred_at):
    room_id, bob = member
    # Written straight to the topic (the record made now): a message "sent" in 2000 or 2199.
    forged = record(
        raw({**submission_json(room=room_id, actor=str(bob.pk), client_id="odd"), "occurred_at": occurred_at})
    )
    valid = record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="now")))

    run_batch([forged, valid])

    assert [events.decode(value).data.client_id for value in room_values(room_id)] == ["now"]
    (letter,) = dead_letters(forged.topic())
    assert letter["offset"] == forged.offset()
    assert "is far from its record's time" in letter["error"]


def test_a_submission_holding_a_nul_is_dead_lettered_and_the_batch_goes_on(member):
    room_id, bob = member
    poison = record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="nul", body="a\x00b")))
    valid = record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="after")))

    run_batch([poison, valid])

    assert [events.decode(value).data.client_id for value in room_values(room_id)] == ["after"]
    (letter,) = dead_letters(poison.topic())
    assert "NUL" in letter["error"]


def test_a_stranger_s_record_is_refused_not_dead_lettered(member):
    room_id, _ = member
    stranger = User.objects.create_user(username=f"s{uuid.uuid4().hex[:6]}", password="x")
    submitted = record(raw(submission_json(room=room_id, actor=str(stranger.pk))))
    verdict = worker.judge(submitted, stop=threading.Event())
    assert isinstance(verdict, worker.Rejection)
    assert (verdict.user_id, verdict.frame.reason) == (str(stranger.pk), "forbidden")


def checked(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("echostream_moderation_checked_total", {"role": "moderation", "outcome": outcome})
        or 0
    )


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"role": "moderation", **labels}) or 0


def test_each_judged_record_is_counted_by_its_outcome_and_each_dead_letter_once(member):
    room_id, bob = member
    stranger = User.objects.create_user(username=f"s{uuid.uuid4().hex[:6]}", password="x")
    before = {outcome: checked(outcome) for outcome in ("allow", "censor", "flag", "reject")}
    forbidden = counted("echostream_rejections_total", reason="forbidden")
    letters = counted("echostream_dead_letters_total")

    run_batch(
        [
            record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="clean"))),
            record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="rude", body="well shit"))),
            record(raw(submission_json(room=room_id, actor=str(stranger.pk), client_id="stranger"))),
            record(b"{not json"),
        ]
    )

    assert {outcome: checked(outcome) - before[outcome] for outcome in before} == {
        "allow": 1, "censor": 1, "flag": 0, "reject": 1,
    }  # fmt: skip
    assert counted("echostream_rejections_total", reason="forbidden") == forbidden + 1
    assert counted("echostream_dead_letters_total") == letters + 1


def test_what_moderation_did_is_logged_with_the_ids_and_the_rule_never_with_the_text(member, caplog):
    room_id, bob = member
    banned, other = f"zq{uuid.uuid4().hex[:10]}", f"words {uuid.uuid4().hex}"
    BannedPhrase.objects.create(text=banned, room_id=room_id)
    censored = record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="c1", body=f"shit {other}")))
    refused = record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id="c2", body=f"say {banned}")))

    with caplog.at_level(logging.DEBUG, logger="moderation"):
        run_batch([censored, refused])

    lines = {record.getMessage(): record for record in caplog.records if record.name == "moderation.worker"}
    published, rejected = lines["published message.created (censored)"], lines["refused message.submitted: moderation"]
    assert (published.levelname, rejected.levelname) == ("INFO", "INFO")
    created = events.decode(room_values(room_id)[0])
    assert (published.room, published.event_id, published.seq, published.user_id) == (
        room_id,
        created.id,
        0,
        str(bob.pk),
    )
    assert (rejected.room, rejected.reason, rejected.user_id) == (room_id, "moderation", str(bob.pk))
    # The refusal's detail for the sender quotes the banned words; the log line does not.
    for line in caplog.records:
        assert not any(text in f"{line.getMessage()} {line.__dict__}" for text in (banned, other))


def test_a_database_error_caused_by_a_value_is_dead_lettered(member, monkeypatch):
    room_id, bob = member
    from django.db import DataError

    def refuse(*_: object, **__: object) -> None:
        raise DataError("value out of range for type bigint")

    monkeypatch.setattr(Lookups, "active_username", refuse)
    poison = record(raw(submission_json(room=room_id, actor=str(bob.pk))))
    assert worker.judge(poison, stop=threading.Event()) is None
    assert "DataError" in dead_letters(poison.topic())[0]["error"]


def test_a_store_that_stays_down_is_waited_for_until_told_to_stop(member, monkeypatch):
    room_id, bob = member
    from django.db import OperationalError

    stop = threading.Event()
    attempts: list[int] = []

    def down(*_: object, **__: object) -> None:
        attempts.append(1)
        if len(attempts) == 3:
            stop.set()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Lookups, "active_username", down)
    monkeypatch.setattr(worker, "RETRY_SECONDS", 0.01)
    submitted = record(raw(submission_json(room=room_id, actor=str(bob.pk))))
    with pytest.raises(worker.Abandoned):
        worker.judge(submitted, stop=stop)
    assert len(attempts) == 3
    assert dead_letters(submitted.topic()) == []


def test_a_record_to_dead_letter_while_kafka_is_down_is_waited_for_until_told_to_stop(kafka_unreachable):
    # Kafka unreachable used to raise KafkaException out of the `except` that dead-letters,
    # and the worker exited (honcho then stopped every role).
    poison = record(b"garbage")
    stop = threading.Event()
    stop.set()
    with pytest.raises(worker.Abandoned):
        worker.judge(poison, stop=stop)


_TABLES = (User._meta.db_table, Membership._meta.db_table, Sanction._meta.db_table)


def _reads(queries: CaptureQueriesContext) -> list[str]:
    """The queries that read users, memberships or sanctions (the moderation rules are read too)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip("( ").startswith("SELECT") and any(f'FROM "{table}"' in q["sql"] for table in _TABLES)
    ]


def _batch_of_two_actors_in_two_rooms(member, *, carol_muted: bool) -> tuple[list[str], list[str]]:
    """Bob (a member of both rooms) and carol (of the second only) send twice to each, in one
    batch: the client_ids published, and the queries that read users, memberships or sanctions."""
    room_id, bob = member
    other_room = Room.objects.create(name="h")
    kafka.ensure_room_topic(other_room.pk)
    carol = User.objects.create_user(username=f"carol{uuid.uuid4().hex[:6]}", password="x")
    Membership.objects.create(room=other_room, user=carol)
    Membership.objects.create(room=other_room, user=bob)
    if carol_muted:
        Sanction.objects.create(user=carol, kind=Sanction.Kind.MUTE, room=None, reason="spam")
    sends = [(room_id, bob), (other_room.pk, bob), (other_room.pk, carol), (room_id, carol)] * 2
    records = [
        record(raw(submission_json(room=room, actor=str(actor.pk), client_id=f"c{n}")))
        for n, (room, actor) in enumerate(sends)
    ]

    with CaptureQueriesContext(connection) as queries:
        run_batch(records)

    published = [events.decode(value) for room in (room_id, other_room.pk) for value in room_values(room)]
    return sorted(event.data.client_id for event in published), _reads(queries)


def test_a_batch_asks_the_database_once_whatever_its_actors_and_rooms(member):
    published, reads = _batch_of_two_actors_in_two_rooms(member, carol_muted=False)

    # Carol is no member of the first room: those two of hers are not published.
    assert published == ["c0", "c1", "c2", "c4", "c5", "c6"]
    (read,) = reads
    assert all(f'FROM "{table}"' in read for table in _TABLES)


def test_a_batch_with_sanctions_in_force_asks_once_more_for_them(member):
    published, reads = _batch_of_two_actors_in_two_rooms(member, carol_muted=True)

    # Carol is muted everywhere (and no member of the first room): none of hers is published.
    assert published == ["c0", "c1", "c4", "c5"]
    together, sanctions = reads
    assert all(f'FROM "{table}"' in together for table in _TABLES)
    assert f'FROM "{Sanction._meta.db_table}"' in sanctions


def test_a_batch_counts_its_repeats_in_one_round_trip(member, redis_pipelines):
    room_id, bob = member
    same_text = [
        record(raw(submission_json(room=room_id, actor=str(bob.pk), client_id=f"c{n}", body="buy now")))
        for n in range(4)
    ]

    run_batch(same_text)

    # The default rule: a text at most three times a minute. The fourth is refused, as when
    # each is counted alone.
    assert [events.decode(value).data.client_id for value in room_values(room_id)] == ["c0", "c1", "c2"]
    counting = [
        commands for commands in redis_pipelines if any(command[1:2] == (flood._COUNT,) for command in commands)
    ]
    assert [len(commands) for commands in counting] == [4]


def test_the_same_send_twice_in_a_batch_keeps_the_first_copy_s_count(member):
    room_id, bob = member
    # One moment for all: a count takes in every repeat up to its own time, so with the copies
    # a millisecond apart the second copy's count would depend on the clock.
    sent_at = events.now().isoformat()

    def sent(client_id: str) -> bytes:
        return raw({**submission_json(room=room_id, actor=str(bob.pk), client_id=client_id, body="buy now"),
                    "occurred_at": sent_at})  # fmt: skip

    run_batch([record(sent(client_id)) for client_id in ["c0", "c1", "c2", "c3", "c0"]])

    # As when each is counted as it is judged: the first copy is the first of four, not the fourth
    # (the second copy, counted after the others, is a fourth).
    assert [events.decode(value).data.client_id for value in room_values(room_id)] == ["c0", "c1", "c2"]


@pytest.fixture
def no_backpressure(settings):
    from chat import backpressure
    from echostream.core import redis

    async def clear() -> None:
        await redis.client().delete(backpressure._key())

    settings.BACKPRESSURE_READ_SECONDS = 0
    settings.BACKPRESSURE_MAX_LAG_SECONDS = 5
    async_to_sync(clear)()
    yield backpressure
    async_to_sync(clear)()


def appended(seconds_ago: float) -> kafka.Message:
    """An inbound record as Kafka hands it over, appended `seconds_ago` by the broker's clock."""
    made = int((time.time() - seconds_ago) * 1000)
    timestamp = (kafka.TIMESTAMP_LOG_APPEND_TIME, made)
    return kafka.Message(topic=kafka.inbound_topic(), partition=0, offset=0, value=b"{}", timestamp=timestamp)


def test_a_batch_taken_in_time_slows_no_sender(no_backpressure):
    worker._note_lag([appended(0.5), appended(1)])
    assert async_to_sync(no_backpressure.retry_after)() is None


def test_a_batch_whose_oldest_record_waited_past_the_limit_slows_senders(no_backpressure):
    worker._note_lag([appended(0.5), appended(8)])
    assert async_to_sync(no_backpressure.retry_after)() is not None
