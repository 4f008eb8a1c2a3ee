import uuid

import msgspec
import pytest
from django.contrib.auth import get_user_model

from chat.models import Membership, Room
from echostream.core import events
from moderation import services

pytestmark = pytest.mark.django_db
User = get_user_model()
MESSAGE_ID = "fedcba9876543210fedcba9876543210"


def submission(*, actor: str, room: str, sender: str = "alice") -> events.MessageSubmitted:
    return events.MessageSubmitted(
        id=events.message_id_for(room_id=room, sender_id=actor, client_id="c1"), room=room,
        occurred_at=events.now(), actor=actor,
        data=events.SubmittedData(client_id="c1", body="hello", sender=sender),
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
    verdict = services.check_inbound(event=event)
    assert isinstance(verdict, services.Accepted)
    created = services.accepted(event=event, verdict=verdict)
    assert (created.id, created.room, created.data.body, created.data.client_id) == (event.id, room.pk, "hello", "c1")


def test_a_submission_from_someone_who_left_is_refused(room_with_member):
    room, user = room_with_member
    Membership.objects.filter(room=room, user=user).delete()
    refusal = services.check_inbound(event=submission(actor=str(user.pk), room=room.pk))
    assert isinstance(refusal, services.Refusal) and refusal.reason == "forbidden"
    frame = services.rejection_frame(event=submission(actor=str(user.pk), room=room.pk), refusal=refusal)
    assert (frame.client_id, frame.reason) == ("c1", "forbidden")


def deletion(*, actor: str, room: str) -> events.MessageDeleted:
    return events.MessageDeleted(
        id=uuid.uuid4().hex, room=room, occurred_at=events.now(), actor=actor,
        data=events.DeletedData(message_id=MESSAGE_ID),
    )  # fmt: skip


def test_a_moderator_may_delete_in_a_room_they_are_not_in(room_with_member):
    room, _ = room_with_member
    moderator = User.objects.create_user(username=f"mod{uuid.uuid4().hex[:6]}", password="x", is_staff=True)
    event = deletion(actor=str(moderator.pk), room=room.pk)
    verdict = services.check_inbound(event=event)
    assert isinstance(verdict, services.Accepted)
    assert services.accepted(event=event, verdict=verdict) is event


def test_a_stranger_s_delete_is_refused_naming_the_message(room_with_member):
    room, _ = room_with_member
    stranger = User.objects.create_user(username=f"s{uuid.uuid4().hex[:6]}", password="x")
    event = deletion(actor=str(stranger.pk), room=room.pk)
    refusal = services.check_inbound(event=event)
    assert isinstance(refusal, services.Refusal)
    frame = services.rejection_frame(event=event, refusal=refusal)
    assert (frame.client_id, frame.id, frame.reason) == (None, MESSAGE_ID, "forbidden")


def test_the_room_is_shown_the_actor_s_username_not_the_record_s_claim(room_with_member):
    room, bob = room_with_member
    event = submission(actor=str(bob.pk), room=room.pk, sender="mallory")
    verdict = services.check_inbound(event=event)
    assert isinstance(verdict, services.Accepted)
    assert services.accepted(event=event, verdict=verdict).data.sender == bob.get_username()


def test_an_actor_who_does_not_exist_is_unprocessable(room_with_member):
    room, _ = room_with_member
    with pytest.raises(services.Unprocessable, match="not an active user"):
        services.check_inbound(event=submission(actor=str(2**63 - 1), room=room.pk))


def test_an_inactive_actor_is_unprocessable(room_with_member):
    room, user = room_with_member
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(services.Unprocessable, match="not an active user"):
        services.check_inbound(event=submission(actor=str(user.pk), room=room.pk))


def test_a_submission_whose_id_is_not_its_derived_message_id_is_unprocessable(room_with_member):
    room, user = room_with_member
    event = msgspec.structs.replace(submission(actor=str(user.pk), room=room.pk), id=events.new_event_id())
    with pytest.raises(services.Unprocessable, match="message id"):
        services.check_inbound(event=event)


def test_a_moderator_s_delete_in_a_room_that_does_not_exist_is_refused():
    moderator = User.objects.create_user(username=f"mod{uuid.uuid4().hex[:6]}", password="x", is_staff=True)
    refusal = services.check_inbound(event=deletion(actor=str(moderator.pk), room="nosuchroom"))
    assert isinstance(refusal, services.Refusal) and refusal.reason == "forbidden"


def change_of(message_of: str, *, actor: str, room: str, edit: bool) -> events.MessageEdited | events.MessageDeleted:
    """A change that names the message `message_of` sent with client_id "c1"."""
    target = {
        "message_id": events.message_id_for(room_id=room, sender_id=message_of, client_id="c1"),
        "client_id": "c1",
    }
    common = {"id": uuid.uuid4().hex, "room": room, "occurred_at": events.now(), "actor": actor}
    if edit:
        return events.MessageEdited(**common, data=events.EditedData(**target, body="changed"))
    return events.MessageDeleted(**common, data=events.DeletedData(**target))


@pytest.mark.parametrize("edit", [True, False], ids=["edit", "delete"])
def test_the_sender_s_own_change_is_accepted(room_with_member, edit):
    room, user = room_with_member
    verdict = services.check_inbound(event=change_of(str(user.pk), actor=str(user.pk), room=room.pk, edit=edit))
    assert isinstance(verdict, services.Accepted)


@pytest.mark.parametrize("edit", [True, False], ids=["edit", "delete"])
def test_a_member_s_forged_change_of_another_s_message_is_unprocessable(room_with_member, edit):
    room, user = room_with_member
    other = User.objects.create_user(username=f"o{uuid.uuid4().hex[:6]}", password="x")
    Membership.objects.create(room=room, user=other)
    forged = change_of(str(user.pk), actor=str(other.pk), room=room.pk, edit=edit)
    with pytest.raises(services.Unprocessable, match="is not a message that actor"):
        services.check_inbound(event=forged)


def test_a_change_that_does_not_name_the_message_s_client_id_is_unprocessable(room_with_member):
    room, user = room_with_member
    event = msgspec.structs.replace(
        change_of(str(user.pk), actor=str(user.pk), room=room.pk, edit=True),
        data=events.EditedData(message_id=MESSAGE_ID, body="changed"),
    )
    with pytest.raises(services.Unprocessable):
        services.check_inbound(event=event)


def test_a_moderator_s_delete_of_another_s_message_in_their_room_is_accepted(room_with_member):
    room, user = room_with_member
    moderator = User.objects.create_user(username=f"mod{uuid.uuid4().hex[:6]}", password="x", is_staff=True)
    Membership.objects.create(room=room, user=moderator)
    event = change_of(str(user.pk), actor=str(moderator.pk), room=room.pk, edit=False)
    assert isinstance(services.check_inbound(event=event), services.Accepted)
