"""A group room with two members and one of bob's messages in the history (MongoDB), and a
moderator: what the moderation actions, the report endpoint and the admin act on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from chat import repository
from chat.models import Membership, Room
from echostream.core import kafka

User = get_user_model()


def person(name: str, **extra: Any) -> Any:
    return User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x", **extra)


def message_document(room_id: str, sender: Any, *, seq: int, body: str) -> dict[str, Any]:
    message_id = uuid.uuid4().hex
    return {
        "_id": message_id,
        "room": room_id,
        "seq": seq,
        "sender": sender.username,
        "sender_id": str(sender.pk),
        "body": body,
        "client_id": f"c-{message_id}",
        "attachments": [],
        "created_at": datetime(2026, 1, 1, 12, seq % 60, tzinfo=UTC),
        "edited_at": None,
        "deleted": False,
        "moderation": None,
        "version_seq": seq,
    }


def store(document: dict[str, Any]) -> None:
    async_to_sync(repository.store_new)(document)


@dataclass
class Scene:
    room: Room
    alice: Any
    bob: Any
    # bob's message, as MongoDB holds it.
    message: dict[str, Any]


@pytest.fixture
def scene(db: None, services: None) -> Scene:
    alice, bob = person("alice"), person("bob")
    room = Room.objects.create(name="lounge", kind=Room.Kind.GROUP, created_by=alice)
    Membership.objects.create(room=room, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.create(room=room, user=bob)
    kafka.ensure_room_topic(room.pk)
    message = message_document(room.pk, bob, seq=0, body="something rude")
    store(message)
    return Scene(room=room, alice=alice, bob=bob, message=message)


@pytest.fixture
def moderator(db: None) -> Any:
    # A superuser: every permission in the admin; staff makes them a moderator.
    return person("mod", is_staff=True, is_superuser=True)


# The in-process socket's fixtures, for the web tier's sanction checks.
from tests.inprocess import make_user, open_socket  # noqa: E402, F401
