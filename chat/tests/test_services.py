"""Rooms, DMs and memberships, with the real Kafka (each room gets its topic)."""

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from chat import projection, services
from chat.errors import ChatError
from chat.models import Membership, Room
from echostream.core import events, kafka

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()


@pytest.fixture
def people():
    return [User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x") for name in "abcd"]


def test_a_group_has_its_creator_as_admin_and_the_named_members(people):
    creator, bob, carol, _ = people
    room = services.do_create_group(creator=creator, name="team", member_usernames=[bob.username, carol.username])
    roles = dict(Membership.objects.filter(room=room).values_list("user__username", "role"))
    assert roles == {creator.username: "admin", bob.username: "member", carol.username: "member"}
    assert room.kind == Room.Kind.GROUP


def test_a_new_room_gets_its_own_single_partition_topic(people):
    room = services.do_create_group(creator=people[0], name="topic", member_usernames=[])
    metadata = kafka.make_sync_producer().list_topics(kafka.room_topic(room.id), timeout=10)
    assert len(metadata.topics[kafka.room_topic(room.id)].partitions) == 1


def test_a_group_with_an_unknown_member_is_refused_and_not_created(people):
    with pytest.raises(ChatError, match="nobody-here"):
        services.do_create_group(creator=people[0], name="x", member_usernames=["nobody-here"])
    assert not Room.objects.filter(name="x").exists()


def test_a_pair_has_one_dm_whoever_opens_it(people):
    alice, bob, _, _ = people
    room, created = services.do_open_dm(user=alice, other_username=bob.username)
    again, created_again = services.do_open_dm(user=bob, other_username=alice.username)
    assert (again.pk, created, created_again) == (room.pk, True, False)
    assert set(room.members.values_list("username", flat=True)) == {alice.username, bob.username}


def test_nobody_opens_a_dm_with_themselves(people):
    with pytest.raises(ChatError):
        services.do_open_dm(user=people[0], other_username=people[0].username)


def test_only_an_admin_adds_members(people):
    admin, member, newcomer, _ = people
    room = services.do_create_group(creator=admin, name="g", member_usernames=[member.username])
    with pytest.raises(ChatError) as refused:
        services.do_add_member(actor=member, room=room, username=newcomer.username)
    assert refused.value.status == 403
    services.do_add_member(actor=admin, room=room, username=newcomer.username)
    assert room.members.filter(pk=newcomer.pk).exists()


def test_a_member_may_leave_but_not_remove_others(people):
    admin, member, other, _ = people
    room = services.do_create_group(creator=admin, name="g", member_usernames=[member.username, other.username])
    with pytest.raises(ChatError):
        services.do_remove_member(actor=member, room=room, username=other.username)
    services.do_remove_member(actor=member, room=room, username=member.username)
    assert not room.members.filter(pk=member.pk).exists()
    assert room.members.filter(pk=other.pk).exists()


def check_send(*, sender, room_id: str, body: str) -> services.Submission:
    return async_to_sync(services.check_message_send)(
        sender_id=str(sender.pk), room_id=room_id, client_id="c", body=body, attachments=[], max_body_chars=4000
    )


@pytest.mark.parametrize(("body", "reason"), [("x" * 4001, "too_large"), ("   ", "invalid")])
def test_a_member_s_send_with_a_bad_body_is_refused(people, body, reason):
    room = services.do_create_group(creator=people[0], name="g", member_usernames=[])
    with pytest.raises(services.SendRefused) as refused:
        check_send(sender=people[0], room_id=room.id, body=body)
    assert refused.value.reason == reason


def test_a_send_by_a_non_member_is_forbidden(people):
    room = services.do_create_group(creator=people[0], name="g", member_usernames=[])
    with pytest.raises(services.SendRefused) as refused:
        check_send(sender=people[1], room_id=room.id, body="hi")
    assert refused.value.reason == "forbidden"


def test_a_member_s_good_send_passes_the_checks(people):
    room = services.do_create_group(creator=people[0], name="g", member_usernames=[])
    assert check_send(sender=people[0], room_id=room.id, body="hi").body == "hi"


def test_a_message_shown_live_before_mongodb_has_it_can_be_edited_at_once(people):
    room = services.do_create_group(creator=people[0], name="g", member_usernames=[])
    shown = events.MessageCreated(
        id=f"{room.id}-m", room=room.id, seq=0, occurred_at=events.now(), actor=str(people[0].pk),
        data=events.CreatedData(client_id="c", body="typo", sender=people[0].get_username()),
    )  # fmt: skip
    async_to_sync(projection.do_show_room_event)(event=shown)
    change = async_to_sync(services.check_message_change)(
        actor_id=str(people[0].pk), room_id=room.id, message_id=shown.id, body="fixed", max_body_chars=4000
    )
    assert (change.message_id, change.body) == (shown.id, "fixed")


@pytest.mark.parametrize(
    "body",
    ["", " \n\t", "\u200b", "\u200e\u200f", "\ufeff", "\u3164", "\x01", "\ufe0f", "\u034f\U000e0100", "\u17b4\u180b"],
)
def test_text_that_shows_nothing_is_blank(body):
    assert services.is_blank(body)


# A letter after a zero-width space; an emoji joined by a zero-width joiner; a lone combining
# mark; the end of ayah and an Arabic number sign, format characters that show a sign.
@pytest.mark.parametrize("body", ["\u200ba", "\U0001f469\u200d\U0001f4bb", "\u0301", ".", "\u06dd", "\u0600"])
def test_text_that_shows_something_is_not_blank(body):
    assert not services.is_blank(body)


@pytest.mark.parametrize("blank_refusal", [None, "needs text"])
def test_a_message_text_with_a_nul_is_invalid(blank_refusal):
    with pytest.raises(services.SendRefused) as refusal:
        services.check_body("a\x00b", max_body_chars=100, blank_refusal=blank_refusal)
    assert refusal.value.reason == "invalid"
