"""The moderators' actions against the real database, MongoDB and Kafka: each changes what it
says, writes one audit entry, and a delete goes to the inbound topic as a sender's would."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import services as chat_services
from chat.errors import ChatError
from chat.models import Membership, Room
from echostream.core import events, kafka
from moderation import actions
from moderation.models import AuditEntry, Report, Sanction
from moderation.tests.conftest import message_document, person, store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]


def inbound_events_about(message_id: str) -> list[events.Event]:
    """Every event on the inbound topic (all partitions) that names the message."""
    consumer = kafka.make_consumer(group_id=f"probe-{uuid.uuid4().hex}")
    try:
        topic = kafka.inbound_topic()
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        found = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(kafka.TopicPartition(topic, partition), timeout=10)
            if low >= high:
                continue
            consumer.assign([kafka.TopicPartition(topic, partition, low)])
            offset = low - 1
            while offset < high - 1:
                record = consumer.poll(10)
                assert record is not None, f"timed out reading {topic}"
                if record.error() is not None:
                    continue
                offset = record.offset()
                event = events.decode(record.value())
                if getattr(getattr(event, "data", None), "message_id", None) == message_id:
                    found.append(event)
        return found
    finally:
        consumer.close()


def only_entry() -> AuditEntry:
    (entry,) = AuditEntry.objects.all()
    return entry


def report_of(scene, reporter=None) -> Report:
    made, _ = actions.do_report(
        reporter=reporter or scene.alice, room_id=scene.room.pk, message_id=scene.message["_id"], reason="rude"
    )
    return made


# --- do_report ---------------------------------------------------------------------------


def test_a_member_s_report_keeps_what_the_message_said(scene):
    made, created = actions.do_report(
        reporter=scene.alice, room_id=scene.room.pk, message_id=scene.message["_id"], reason="  insults me  "
    )
    assert created
    made.refresh_from_db()
    assert (made.status, made.reason, made.room_id) == (Report.Status.OPEN, "insults me", scene.room.pk)
    assert (made.message_sender, made.message_seq, made.message_body) == (scene.bob, 0, "something rude")


def test_a_second_report_while_the_first_is_open_answers_the_first(scene):
    first = report_of(scene)
    again, created = actions.do_report(
        reporter=scene.alice, room_id=scene.room.pk, message_id=scene.message["_id"], reason="still rude"
    )
    assert (again.pk, created) == (first.pk, False)
    assert Report.objects.count() == 1


def test_a_stranger_and_an_unknown_message_get_the_same_not_found(scene):
    stranger = person("eve")
    with pytest.raises(actions.MessageNotFound):
        actions.do_report(reporter=stranger, room_id=scene.room.pk, message_id=scene.message["_id"], reason="x")
    with pytest.raises(actions.MessageNotFound):
        actions.do_report(reporter=scene.alice, room_id=scene.room.pk, message_id="f" * 32, reason="x")
    assert not Report.objects.exists()


def test_a_message_of_another_room_is_not_found(scene):
    other = Room.objects.create(name="other")
    Membership.objects.create(room=other, user=scene.alice)
    with pytest.raises(actions.MessageNotFound):
        actions.do_report(reporter=scene.alice, room_id=other.pk, message_id=scene.message["_id"], reason="x")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_a_report_needs_a_reason_of_1_to_1000_characters(scene, reason):
    with pytest.raises(actions.ModerationError) as refused:
        actions.do_report(reporter=scene.alice, room_id=scene.room.pk, message_id=scene.message["_id"], reason=reason)
    assert refused.value.code == "invalid"


# --- do_delete_message ---------------------------------------------------------------------


def test_a_moderator_s_delete_goes_to_the_inbound_topic_as_the_moderator_s(scene, moderator):
    actions.do_delete_message(
        moderator=moderator, room_id=scene.room.pk, message_id=scene.message["_id"], reason="insult"
    )
    (event,) = inbound_events_about(scene.message["_id"])
    assert isinstance(event, events.MessageDeleted)
    assert (event.room, event.actor, event.data.client_id) == (
        scene.room.pk,
        str(moderator.pk),
        scene.message["client_id"],
    )


def test_a_moderator_s_delete_is_audited_with_what_the_message_said(scene, moderator):
    actions.do_delete_message(
        moderator=moderator, room_id=scene.room.pk, message_id=scene.message["_id"], reason="insult"
    )
    entry = only_entry()
    assert (entry.actor, entry.action, entry.target_user, entry.room_id) == (
        moderator, AuditEntry.Kind.DELETE_MESSAGE, scene.bob, scene.room.pk,
    )  # fmt: skip
    assert (entry.message_id, entry.reason) == (scene.message["_id"], "insult")
    assert entry.details == {"seq": 0, "sender": scene.bob.username, "body": "something rude"}


def test_a_message_holding_a_nul_is_still_reported_and_deleted_with_a_replacement_character(scene, moderator):
    # Only a record written straight to a room topic carries one: the web and moderation refuse it.
    message = message_document(scene.room.pk, scene.bob, seq=1, body="rude\x00text")
    store(message)

    made, _ = actions.do_report(reporter=scene.alice, room_id=scene.room.pk, message_id=message["_id"], reason="x")
    made.refresh_from_db()
    assert made.message_body == "rude\ufffdtext"
    actions.do_delete_message(moderator=moderator, room_id=scene.room.pk, message_id=message["_id"], reason="x")
    entry = AuditEntry.objects.get(action=AuditEntry.Kind.DELETE_MESSAGE)
    assert entry.details["body"] == "rude\ufffdtext"
    assert [type(event) for event in inbound_events_about(message["_id"])] == [events.MessageDeleted]


def test_a_delete_resolves_every_open_report_of_the_message(scene, moderator):
    carol = person("carol")
    Membership.objects.create(room=scene.room, user=carol)
    reports = [report_of(scene), report_of(scene, carol)]
    actions.do_delete_message(moderator=moderator, room_id=scene.room.pk, message_id=scene.message["_id"], reason="x")
    for made in reports:
        made.refresh_from_db()
        assert (made.status, made.resolved_by) == (Report.Status.ACTIONED, moderator)


def test_a_delete_kafka_refuses_leaves_no_audit_entry(scene, moderator, monkeypatch):
    async def refuse(**_):
        raise kafka.KafkaException("down")

    monkeypatch.setattr(chat_services, "do_submit_change", refuse)
    report = report_of(scene)
    with pytest.raises(kafka.KafkaException):
        actions.do_delete_message(
            moderator=moderator, room_id=scene.room.pk, message_id=scene.message["_id"], reason="x"
        )
    report.refresh_from_db()
    assert (AuditEntry.objects.count(), report.status) == (0, Report.Status.OPEN)


def test_only_a_moderator_deletes(scene):
    with pytest.raises(actions.ModerationError) as refused:
        actions.do_delete_message(
            moderator=scene.alice, room_id=scene.room.pk, message_id=scene.message["_id"], reason="x"
        )
    assert refused.value.status == 403
    assert not AuditEntry.objects.exists()


# --- do_dismiss_report ---------------------------------------------------------------------


def test_dismissing_a_report_closes_it_and_is_audited(scene, moderator):
    report = report_of(scene)
    actions.do_dismiss_report(moderator=moderator, report=report, reason="banter")
    report.refresh_from_db()
    assert (report.status, report.resolved_by) == (Report.Status.DISMISSED, moderator)
    entry = only_entry()
    assert (entry.action, entry.target_user, entry.message_id, entry.reason) == (
        AuditEntry.Kind.DISMISS_REPORT, scene.bob, scene.message["_id"], "banter",
    )  # fmt: skip


def test_once_dismissed_the_member_may_report_the_message_again(scene, moderator):
    actions.do_dismiss_report(moderator=moderator, report=report_of(scene), reason="banter")
    _, created = actions.do_report(
        reporter=scene.alice, room_id=scene.room.pk, message_id=scene.message["_id"], reason="again"
    )
    assert created


# --- do_mute, do_ban, do_lift ----------------------------------------------------------------


def test_a_mute_is_a_sanction_until_its_end_and_resolves_its_report(scene, moderator):
    report = report_of(scene)
    until = timezone.now() + timedelta(hours=1)
    sanction = actions.do_mute(
        moderator=moderator, user=scene.bob, room=scene.room, until=until, reason="cool off", report=report
    )
    assert list(actions.active_sanctions(user=scene.bob)) == [sanction]
    assert (sanction.kind, sanction.room, sanction.until, sanction.created_by) == (
        Sanction.Kind.MUTE, scene.room, until, moderator,
    )  # fmt: skip
    report.refresh_from_db()
    assert report.status == Report.Status.ACTIONED
    entry = only_entry()
    assert (entry.action, entry.target_user, entry.room, entry.reason) == (
        AuditEntry.Kind.MUTE, scene.bob, scene.room, "cool off",
    )  # fmt: skip


def test_a_mute_must_end_in_the_future(scene, moderator):
    with pytest.raises(actions.ModerationError):
        actions.do_mute(moderator=moderator, user=scene.bob, until=timezone.now() - timedelta(seconds=1), reason="x")
    assert not Sanction.objects.exists()


def test_a_room_ban_takes_the_user_out_of_the_room_and_keeps_them_out(scene, moderator):
    actions.do_ban(moderator=moderator, user=scene.bob, room=scene.room, reason="spam")
    assert not Membership.objects.filter(room=scene.room, user=scene.bob).exists()
    with pytest.raises(ChatError) as refused:
        chat_services.do_add_member(actor=scene.alice, room=scene.room, username=scene.bob.username)
    assert (refused.value.code, refused.value.status) == ("banned", 403)
    entry = only_entry()
    assert (entry.action, entry.target_user, entry.room, entry.details["was_member"]) == (
        AuditEntry.Kind.BAN, scene.bob, scene.room, True,
    )  # fmt: skip


def test_once_a_room_ban_is_lifted_the_user_may_be_added_again(scene, moderator):
    sanction = actions.do_ban(moderator=moderator, user=scene.bob, room=scene.room, reason="spam")
    actions.do_lift(moderator=moderator, sanction=sanction, reason="apologised")
    chat_services.do_add_member(actor=scene.alice, room=scene.room, username=scene.bob.username)
    assert Membership.objects.filter(room=scene.room, user=scene.bob).exists()
    assert [entry.action for entry in AuditEntry.objects.order_by("pk")] == [AuditEntry.Kind.BAN, AuditEntry.Kind.LIFT]


def test_a_site_ban_deactivates_the_account_and_its_lift_reactivates_it(scene, moderator):
    sanction = actions.do_ban(moderator=moderator, user=scene.bob, reason="spam everywhere")
    scene.bob.refresh_from_db()
    assert scene.bob.is_active is False
    actions.do_lift(moderator=moderator, sanction=sanction, reason="appeal granted")
    scene.bob.refresh_from_db()
    sanction.refresh_from_db()
    assert scene.bob.is_active is True and sanction.lifted_at is not None
    assert not actions.active_sanctions(user=scene.bob).exists()


def test_a_site_ban_closes_the_user_s_sockets_once_committed(
    scene, moderator, django_capture_on_commit_callbacks, monkeypatch
):
    from chat import signals

    closed = []
    monkeypatch.setattr(signals, "_close_sockets", closed.append)
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_ban(moderator=moderator, user=scene.bob, reason="spam")
    assert closed == [str(scene.bob.pk)]


def test_a_direct_conversation_has_no_room_ban(scene, moderator):
    dm = Room.objects.create(kind=Room.Kind.DM, dm_key=f"{scene.alice.pk}:{scene.bob.pk}")
    with pytest.raises(actions.ModerationError):
        actions.do_ban(moderator=moderator, user=scene.bob, room=dm, reason="x")
    assert not Sanction.objects.exists()


def test_a_moderator_cannot_sanction_themselves(scene, moderator):
    with pytest.raises(actions.ModerationError):
        actions.do_ban(moderator=moderator, user=moderator, reason="oops")


def test_lifting_twice_is_refused(scene, moderator):
    sanction = actions.do_mute(
        moderator=moderator, user=scene.bob, until=timezone.now() + timedelta(hours=1), reason="x"
    )
    actions.do_lift(moderator=moderator, sanction=sanction, reason="ok")
    with pytest.raises(actions.ModerationError):
        actions.do_lift(moderator=moderator, sanction=sanction, reason="again")
    assert AuditEntry.objects.filter(action=AuditEntry.Kind.LIFT).count() == 1
