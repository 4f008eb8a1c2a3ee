import uuid

import pytest
from django.contrib.auth import get_user_model

from chat.models import Membership, Room
from echostream.core import events
from moderation import services

pytestmark = pytest.mark.django_db
User = get_user_model()


def submission(*, actor: str, room: str) -> events.MessageSubmitted:
    return events.MessageSubmitted(
        id=uuid.uuid4().hex, room=room, occurred_at=events.now(), actor=actor,
        data=events.SubmittedData(client_id="c1", body="hello", sender="alice"),
    )  # fmt: skip


@pytest.fixture
def room_with_member():
    user = User.objects.create_user(username=f"u{uuid.uuid4().hex[:6]}", password="x")
    room = Room.objects.create(name="g")
    Membership.objects.create(room=room, user=user)
    return room, user


def test_a_member_s_submission_is_accepted_unchanged(room_with_member):
    room, user = room_with_member
    event = submission(actor=str(user.pk), room=room.pk)
    assert services.check_inbound(event=event) is None
    created = services.accepted(event=event)
    assert (created.id, created.room, created.data.body, created.data.client_id) == (event.id, room.pk, "hello", "c1")


def test_a_submission_from_someone_who_left_is_refused(room_with_member):
    room, user = room_with_member
    Membership.objects.filter(room=room, user=user).delete()
    refusal = services.check_inbound(event=submission(actor=str(user.pk), room=room.pk))
    assert refusal is not None and refusal.reason == "forbidden"
    frame = services.rejection_frame(event=submission(actor=str(user.pk), room=room.pk), refusal=refusal)
    assert (frame.client_id, frame.reason) == ("c1", "forbidden")


def deletion(*, actor: str, room: str) -> events.MessageDeleted:
    return events.MessageDeleted(
        id=uuid.uuid4().hex, room=room, occurred_at=events.now(), actor=actor,
        data=events.DeletedData(message_id="m1"),
    )  # fmt: skip


def test_a_moderator_may_delete_in_a_room_they_are_not_in(room_with_member):
    room, _ = room_with_member
    moderator = User.objects.create_user(username=f"mod{uuid.uuid4().hex[:6]}", password="x", is_staff=True)
    event = deletion(actor=str(moderator.pk), room=room.pk)
    assert services.check_inbound(event=event) is None
    assert services.accepted(event=event) is event


def test_a_stranger_s_delete_is_refused_naming_the_message(room_with_member):
    room, _ = room_with_member
    stranger = User.objects.create_user(username=f"s{uuid.uuid4().hex[:6]}", password="x")
    event = deletion(actor=str(stranger.pk), room=room.pk)
    refusal = services.check_inbound(event=event)
    assert refusal is not None
    frame = services.rejection_frame(event=event, refusal=refusal)
    assert (frame.client_id, frame.id, frame.reason) == (None, "m1", "forbidden")
