"""Mutes and bans: which are in force, the worker's refusal, and the web's refusal at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from chat import services as chat_services
from chat.models import Membership, Room
from echostream.core import events, kafka
from moderation import selectors, services
from moderation.models import Sanction

User = get_user_model()


def user(name: str = "u"):
    return User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:8]}", password="x")


@pytest.fixture
def member():
    person = user()
    room = Room.objects.create(name="g")
    Membership.objects.create(room=room, user=person)
    return room, person


def sanction(person, *, kind=Sanction.Kind.MUTE, room=None, **fields) -> Sanction:
    return Sanction.objects.create(user=person, kind=kind, room=room, reason=fields.pop("reason", "spam"), **fields)


@pytest.mark.django_db
class TestInForce:
    def test_a_site_mute_and_a_mute_in_the_room_are_in_force(self, member):
        room, person = member
        sanction(person)
        assert selectors.Lookups().sanction_in_force(user_id=str(person.pk), room_id=room.pk).kind == Sanction.Kind.MUTE

    def test_a_mute_in_another_room_is_not(self, member):
        room, person = member
        sanction(person, room=Room.objects.create(name="elsewhere"))
        assert selectors.Lookups().sanction_in_force(user_id=str(person.pk), room_id=room.pk) is None

    def test_a_lifted_or_expired_mute_is_not(self, member):
        room, person = member
        sanction(person, lifted_at=timezone.now())
        sanction(person, until=timezone.now() - timedelta(minutes=1))
        assert selectors.Lookups().sanction_in_force(user_id=str(person.pk), room_id=room.pk) is None

    def test_a_ban_outweighs_a_mute(self, member):
        room, person = member
        sanction(person)
        sanction(person, kind=Sanction.Kind.BAN, room=room)
        assert selectors.Lookups().sanction_in_force(user_id=str(person.pk), room_id=room.pk).kind == Sanction.Kind.BAN


def submitted(*, room: str, actor: str, body: str = "hello") -> events.MessageSubmitted:
    return events.MessageSubmitted(
        id=events.message_id_for(room_id=room, sender_id=actor, client_id="c1"), room=room,
        occurred_at=events.now(), actor=actor, data=events.SubmittedData(client_id="c1", body=body, sender="x"),
    )  # fmt: skip


def deleted(*, room: str, actor: str) -> events.MessageDeleted:
    return events.MessageDeleted(
        id=events.new_event_id(), room=room, occurred_at=events.now(), actor=actor,
        data=events.DeletedData(message_id=events.message_id_for(room_id=room, sender_id=actor, client_id="c1"),
                                client_id="c1"),
    )  # fmt: skip


@pytest.mark.django_db
@pytest.mark.usefixtures("services")
class TestWorker:
    def test_a_muted_user_s_submission_is_refused_saying_until_when(self, member):
        room, person = member
        sanction(person, room=room, until=timezone.now() + timedelta(hours=1), reason="flooding")
        refusal = services.check_inbound(event=submitted(room=room.pk, actor=str(person.pk)))
        assert isinstance(refusal, services.Refusal) and refusal.reason == "moderation"
        assert "muted in this room until 20" in refusal.detail and "UTC" in refusal.detail
        assert "flooding" in refusal.detail

    def test_a_muted_user_may_still_delete_their_message(self, member):
        room, person = member
        sanction(person)
        assert isinstance(services.check_inbound(event=deleted(room=room.pk, actor=str(person.pk))), services.Accepted)

    def test_a_banned_user_may_not(self, member):
        room, person = member
        sanction(person, kind=Sanction.Kind.BAN)
        refusal = services.check_inbound(event=deleted(room=room.pk, actor=str(person.pk)))
        assert isinstance(refusal, services.Refusal) and "banned on this site until a moderator lifts it" in (
            refusal.detail
        )


def inbound_end_offsets() -> int:
    """How many records the inbound topic's partitions have had, all told."""
    consumer = kafka.make_consumer(group_id=f"probe-{uuid.uuid4().hex}")
    topic = kafka.inbound_topic()
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
                return sum(
                    consumer.get_watermark_offsets(kafka.TopicPartition(topic, partition), timeout=10)[1]
                    for partition in partitions
                )
            except kafka.KafkaException:
                # A topic made a moment ago has no leader yet.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


@pytest.mark.usefixtures("services")
async def test_the_web_refuses_a_muted_user_s_send_at_once_and_writes_nothing(make_user, open_socket):
    muted, other = await make_user(), await make_user()
    room, _ = await sync_to_async(chat_services.do_open_dm)(user=muted, other_username=other.username)
    await sync_to_async(kafka.ensure_inbound_topic)()
    await sync_to_async(sanction)(muted, reason="cool down")
    socket = await open_socket(muted)
    before = await sync_to_async(inbound_end_offsets)()

    await socket.send_frame({"type": "message.send", "room": room.id, "client_id": "m1", "body": "hi"})
    answer = await socket.answer()
    assert (answer["type"], answer["reason"], answer["client_id"]) == ("message.rejected", "moderation", "m1")
    assert "muted on this site" in answer["detail"]
    assert await sync_to_async(inbound_end_offsets)() == before


@pytest.mark.usefixtures("services")
async def test_the_web_refuses_a_muted_sender_s_edit(make_user, monkeypatch):
    muted = await make_user()
    room = await Room.objects.acreate(name="g")
    await Membership.objects.acreate(room=room, user=muted)
    await sync_to_async(sanction)(muted, room=room)

    async def own_message(**_: object) -> dict:
        return {"room": room.pk, "deleted": False, "sender_id": str(muted.pk), "client_id": "c1"}

    monkeypatch.setattr(chat_services.recent, "live_document", own_message)
    with pytest.raises(chat_services.SendRefused) as refused:
        await chat_services.check_message_change(
            actor_id=str(muted.pk), room_id=room.pk, message_id="a" * 32, body="changed", max_body_chars=4000
        )
    assert refused.value.reason == "moderation" and "muted in this room" in refused.value.detail


async def next_answer(socket) -> dict:
    while True:
        frame = await socket.answer()
        if frame["type"] in ("message.ack", "message.rejected", "error"):
            return frame


@pytest.mark.usefixtures("services")
async def test_the_web_reads_a_sender_s_sanctions_once_until_one_is_given(make_user, open_socket, monkeypatch):
    sender, other = await make_user(), await make_user()
    room, _ = await sync_to_async(chat_services.do_open_dm)(user=sender, other_username=other.username)
    await sync_to_async(kafka.ensure_inbound_topic)()
    socket = await open_socket(sender)
    send = {"type": "message.send", "room": room.id, "body": "hi"}

    # Every query of the sanctions table, from any thread (the async ORM's too).
    sanction_queries: list[str] = []
    execute = CursorWrapper._execute

    def counting(self, sql, *rest):
        if Sanction._meta.db_table in sql:
            sanction_queries.append(sql)
        return execute(self, sql, *rest)

    monkeypatch.setattr(CursorWrapper, "_execute", counting)
    for client_id in ("m1", "m2", "m3"):
        await socket.send_frame({**send, "client_id": client_id})
        assert (await next_answer(socket))["type"] == "message.ack"
    assert len(sanction_queries) == 1

    await sync_to_async(sanction)(sender, until=timezone.now() + timedelta(hours=1))
    # The sockets forget what they kept once the mute is stored: the next send is refused.
    async with asyncio.timeout(20):
        while True:
            await socket.send_frame({**send, "client_id": f"m{uuid.uuid4().hex[:6]}"})
            answer = await next_answer(socket)
            if answer["type"] == "message.rejected":
                break
    assert answer["reason"] == "moderation" and "muted on this site" in answer["detail"]
