"""The filters inside the worker, against the real database, Redis and Kafka: what reaches the
room topic, what the sender is told, and the reports that flags open."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model

from chat.models import Membership, Room
from echostream.core import events, kafka
from moderation import rules, worker
from moderation.models import Action, AuditEntry, Report, RoomPolicy, Sanction
from moderation.tests.kafka_probe import record, room_values

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()


@pytest.fixture(autouse=True)
def fresh_rules():
    rules.forget()
    yield
    rules.forget()


@pytest.fixture
def member():
    user = User.objects.create_user(username=f"bob{uuid.uuid4().hex[:6]}", password="x")
    room = Room.objects.create(name="g")
    Membership.objects.create(room=room, user=user)
    kafka.ensure_room_topic(room.pk)
    return room, user


def submission(room: Room, user, body: str, client_id: str | None = None) -> kafka.Message:
    client_id = client_id or uuid.uuid4().hex
    value = {
        "type": "message.submitted", "id": events.message_id_for(room_id=room.pk, sender_id=str(user.pk),
                                                                   client_id=client_id),
        "room": room.pk, "occurred_at": events.now().isoformat(), "actor": str(user.pk), "v": 1,
        "data": {"client_id": client_id, "body": body, "sender": user.username},
    }  # fmt: skip
    return record(json.dumps(value).encode())


def edit(room: Room, user, client_id: str, body: str) -> kafka.Message:
    value = {
        "type": "message.edited", "id": events.new_event_id(), "room": room.pk,
        "occurred_at": events.now().isoformat(), "actor": str(user.pk), "v": 1,
        "data": {"message_id": events.message_id_for(room_id=room.pk, sender_id=str(user.pk), client_id=client_id),
                 "client_id": client_id, "body": body},
    }  # fmt: skip
    return record(json.dumps(value).encode())


def run_batch(records: list[kafka.Message]) -> None:
    worker.handle_batch(kafka.make_sync_producer(), records, stop=threading.Event())


def published(room: Room) -> list[events.Event]:
    return [events.decode(value) for value in room_values(room.pk)]


def test_a_profane_message_is_published_censored_and_labelled(member):
    room, bob = member
    run_batch([submission(room, bob, "well shit, that broke")])
    (created,) = published(room)
    assert created.data.body == "well ****, that broke"
    assert created.data.moderation == events.ModerationLabel(action="censored")


def test_a_clean_message_is_published_unlabelled(member):
    room, bob = member
    run_batch([submission(room, bob, "all good here")])
    (created,) = published(room)
    assert (created.data.body, created.data.moderation) == ("all good here", None)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("look https://example.com/x", "links to example.com are not allowed in this room"),
        ("WHY DOES NOBODY EVER ANSWER ME", "capitals"),
        ("x" * 5000, "at most 4000 characters"),
    ],
)
def test_a_rejected_message_never_reaches_the_room_and_the_sender_is_told_why(member, body, detail):
    room, bob = member
    RoomPolicy.objects.create(room=room, denied_domains="example.com")
    verdict = worker.judge(submission(room, bob, body), stop=threading.Event())
    assert isinstance(verdict, worker.Rejection)
    assert (verdict.user_id, verdict.frame.reason) == (str(bob.pk), "moderation")
    assert verdict.frame.detail.startswith("Your message was not sent: ") and detail in verdict.frame.detail
    run_batch([submission(room, bob, body), submission(room, bob, "fine")])
    assert [event.data.body for event in published(room)] == ["fine"]


def test_the_fourth_repeat_within_the_window_is_refused_and_a_replay_does_not_count(member):
    room, bob = member
    first_three = [submission(room, bob, f"Buy  {'NOW' if n else 'now'}") for n in range(3)]
    run_batch(first_three)
    run_batch(first_three)  # the same records again, as after a crash before the commit
    fourth = worker.judge(submission(room, bob, "buy now"), stop=threading.Event())
    assert isinstance(fourth, worker.Rejection) and "same text more than 3 times" in fourth.frame.detail


def test_a_muted_user_s_record_written_straight_to_the_inbound_topic_is_refused(member):
    room, bob = member
    Sanction.objects.create(user=bob, kind=Sanction.Kind.MUTE, reason="spam")
    verdict = worker.judge(submission(room, bob, "let me speak"), stop=threading.Event())
    assert isinstance(verdict, worker.Rejection)
    assert verdict.frame.reason == "moderation" and "muted" in verdict.frame.detail
    run_batch([submission(room, bob, "let me speak")])
    assert published(room) == []


def test_an_edit_with_a_swear_word_is_censored_and_labelled(member):
    room, bob = member
    run_batch([submission(room, bob, "first", client_id="c1"), edit(room, bob, "c1", "oh shit")])
    _, edited = published(room)
    assert isinstance(edited, events.MessageEdited)
    assert (edited.data.body, edited.data.moderation) == ("oh ****", events.ModerationLabel(action="censored"))


def test_a_rejected_edit_is_not_published(member):
    room, bob = member
    run_batch([submission(room, bob, "first", client_id="c1")])
    verdict = worker.judge(edit(room, bob, "c1", "WHAT ON EARTH IS GOING ON HERE"), stop=threading.Event())
    assert isinstance(verdict, worker.Rejection) and verdict.frame.id is not None
    assert verdict.frame.reason == "moderation"


def test_a_flagged_message_is_delivered_and_opens_one_report_with_an_audit_entry(member):
    room, bob = member
    RoomPolicy.objects.create(room=room, capitals=Action.FLAG)
    flagged = submission(room, bob, "THIS IS VERY IMPORTANT NEWS")
    run_batch([flagged])
    run_batch([flagged])  # processed again after a crash: still one report

    created = published(room)[0]
    assert created.data.body == "THIS IS VERY IMPORTANT NEWS"
    report = Report.objects.get(message_id=created.id)
    assert (report.reporter, report.status, report.message_seq, report.message_sender) == (None, "open", 0, bob)
    assert "capitals" in report.reason
    entry = AuditEntry.objects.get(message_id=created.id)
    assert (entry.actor, entry.action, entry.target_user) == (None, AuditEntry.Kind.FLAG, bob)


def test_hostile_text_does_not_stop_the_worker(member):
    room, bob = member
    RoomPolicy.objects.create(room=room, length=Action.ALLOW)
    hostile = ["\u202e" * 50_000, "a" * 99_000 + "!", "💩" * 20_000]
    run_batch([*(submission(room, bob, text) for text in hostile), submission(room, bob, "after")])
    assert published(room)[-1].data.body == "after"
