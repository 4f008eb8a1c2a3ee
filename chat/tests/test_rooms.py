"""Making rooms, against the real database and Kafka: a room that is not made leaves no topic behind."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError

from chat import services
from chat.models import Membership, Room
from chat.tests.topics import listed
from echostream.core import kafka

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()


def user(name: str) -> User:
    return User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x")


@pytest.fixture
def topics_made(monkeypatch):
    """The room ids whose topics do_create_group / do_open_dm make (the real topics)."""
    made: list[str] = []
    real = kafka.ensure_room_topic

    def ensure(room_id: str) -> None:
        real(room_id)
        made.append(room_id)

    monkeypatch.setattr(kafka, "ensure_room_topic", ensure)
    return made


def test_the_loser_of_a_dm_race_keeps_the_winner_s_room_and_deletes_the_topic_it_made(monkeypatch):
    alice, bob = user("alice"), user("bob")
    real = kafka.ensure_room_topic
    made: list[str] = []

    def ensure(room_id: str) -> None:
        real(room_id)
        made.append(room_id)
        if len(made) == 1:
            # Bob's request wins the race between Alice's check and her save.
            services.do_open_dm(user=bob, other_username=alice.get_username())

    monkeypatch.setattr(kafka, "ensure_room_topic", ensure)
    room, created = services.do_open_dm(user=alice, other_username=bob.get_username())

    alices, bobs = made
    assert (room.pk, created) == (bobs, False)
    assert not Room.objects.filter(pk=alices).exists()
    assert listed(bobs)
    assert listed(alices, present=False)


def test_a_group_whose_saving_fails_deletes_the_topic_made_for_it(topics_made, monkeypatch):
    creator = user("carol")

    def disk_full(*_: object, **__: object) -> None:
        raise OperationalError("database or disk is full")

    monkeypatch.setattr(Membership.objects, "bulk_create", disk_full)
    with pytest.raises(OperationalError):
        services.do_create_group(creator=creator, name="doomed", member_usernames=[])

    (room_id,) = topics_made
    assert not Room.objects.filter(pk=room_id).exists()
    assert listed(room_id, present=False)


def test_a_group_that_is_made_keeps_its_topic(topics_made):
    room = services.do_create_group(creator=user("dave"), name="kept", member_usernames=[])
    assert topics_made == [room.pk]
    assert listed(room.pk)
