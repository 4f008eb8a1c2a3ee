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
    assert services.check_submission(submission=event) is None
    created = services.accepted(submission=event)
    assert (created.id, created.room, created.data.body, created.data.client_id) == (event.id, room.pk, "hello", "c1")


def test_a_submission_from_someone_who_left_is_refused(room_with_member):
    room, user = room_with_member
    Membership.objects.filter(room=room, user=user).delete()
    refusal = services.check_submission(submission=submission(actor=str(user.pk), room=room.pk))
    assert refusal is not None and refusal.reason == "forbidden"
    frame = services.rejection_frame(submission=submission(actor=str(user.pk), room=room.pk), refusal=refusal)
    assert (frame["type"], frame["client_id"], frame["reason"]) == ("message.rejected", "c1", "forbidden")
