"""The chat page, at `/` and at each room's own address."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model

from chat.models import Membership, Room

pytestmark = pytest.mark.django_db
User = get_user_model()


def person(name: str) -> User:
    return User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x")


def group_of(user: User) -> Room:
    room = Room.objects.create(name="g", kind=Room.Kind.GROUP, created_by=user)
    Membership.objects.create(room=room, user=user, role=Membership.Role.ADMIN)
    return room


def page_text(response) -> str:
    # The CSRF token is masked afresh for every response.
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


def test_a_room_s_address_serves_the_chat_page(client):
    alice = person("alice")
    client.force_login(alice)
    room = group_of(alice)

    response = client.get(f"/rooms/{room.id}/")

    assert response.status_code == 200
    assert response.templates[0].name == "chat/chat.html"
    assert page_text(response) == page_text(client.get("/"))


def test_a_room_of_someone_else_answers_exactly_as_an_unknown_one(client):
    alice = person("alice")
    client.force_login(alice)
    someone_else_s = group_of(person("bob"))

    foreign = client.get(f"/rooms/{someone_else_s.id}/")
    unknown = client.get("/rooms/0123456789abcdef/")

    assert foreign.status_code == unknown.status_code == 200
    assert page_text(foreign) == page_text(unknown)


def test_a_room_s_address_asks_a_stranger_to_sign_in_and_comes_back(client):
    response = client.get("/rooms/0123456789abcdef/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/rooms/0123456789abcdef/"
