"""The room object in the JSON API's answers, against the real database, Redis and MongoDB."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from chat import projection
from echostream.core import events

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()

ROOM_FIELDS = {
    "id", "name", "kind", "members", "admins", "last_seq", "unread", "member_info", "last_message", "activity_at",
}  # fmt: skip


def person(name: str) -> User:
    return User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x")


@pytest.fixture
def alice(client) -> User:
    user = person("alice")
    client.force_login(user)
    return user


def post(client, path: str, body: dict):
    return client.post(path, body, content_type="application/json")


def test_creating_a_group_answers_the_room_as_the_creator_sees_it(client, alice):
    bob = person("bob")
    response = post(client, "/api/rooms/", {"name": "team", "members": [bob.username]})

    assert response.status_code == 201
    room = response.json()
    assert set(room) == ROOM_FIELDS
    assert (room["name"], room["kind"], room["members"]) == ("team", "group", sorted([alice.username, bob.username]))
    assert (room["last_seq"], room["unread"], room["last_message"]) == (None, 0, None)
    assert [member["username"] for member in room["member_info"]] == room["members"]
    assert room["admins"] == [alice.username]


def test_opening_a_dm_answers_the_room_named_after_the_other_person_then_the_same_room(client, alice):
    bob = person("bob")
    first = post(client, "/api/dms/", {"username": bob.username})
    again = post(client, "/api/dms/", {"username": bob.username})

    assert (first.status_code, again.status_code) == (201, 200)
    assert set(first.json()) == ROOM_FIELDS
    assert (first.json()["name"], first.json()["kind"]) == (bob.username, "dm")
    assert again.json()["id"] == first.json()["id"]


def test_the_room_list_holds_room_objects_most_recent_activity_first(client, alice):
    bob = person("bob")
    talked = post(client, "/api/rooms/", {"name": "talked", "members": [bob.username]}).json()
    post(client, "/api/rooms/", {"name": "quiet", "members": []})
    said = events.MessageCreated(
        id=f"{talked['id']}-m", room=talked["id"], seq=0, occurred_at=events.now(), actor=str(bob.pk),
        data=events.CreatedData(client_id="c", body="hello", sender=bob.username),
    )  # fmt: skip
    async_to_sync(projection.do_show_room_event)(event=said)

    response = client.get("/api/rooms/")

    assert response.status_code == 200
    rooms = response.json()["rooms"]
    assert [room["name"] for room in rooms] == ["talked", "quiet"]
    assert all(set(room) == ROOM_FIELDS for room in rooms)
    assert rooms[0]["last_message"] == {
        "id": said.id,
        "seq": 0,
        "sender": bob.username,
        "body": "hello",
        "created_at": said.occurred_at.isoformat(),
        "attachments": [],
    }
    assert (rooms[0]["last_seq"], rooms[0]["unread"]) == (0, 1)
