"""`GET /api/users/?q=`: people to message, with their presence, against the real Redis."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from presence import store

pytestmark = [pytest.mark.usefixtures("services"), pytest.mark.django_db]
User = get_user_model()


@pytest.fixture
def people(client):
    prefix = f"p{uuid.uuid4().hex[:8]}"
    me = User.objects.create_user(username=f"{prefix}-me", password="a-long-passphrase")
    online = User.objects.create_user(username=f"{prefix}-online", password="x")
    gone = User.objects.create_user(username=f"{prefix}-gone", password="x")
    User.objects.create_user(username=f"{prefix}-never", password="x")
    client.force_login(me)
    async_to_sync(store.mark_alive)(user_id=str(online.pk), connection_id="tab")
    async_to_sync(store.mark_alive)(user_id=str(gone.pk), connection_id="tab")
    left_at = async_to_sync(store.mark_gone)(user_id=str(gone.pk), connection_id="tab")
    return prefix, left_at


def test_users_show_who_is_online_and_when_the_others_were_last_seen(client, people):
    prefix, left_at = people
    found = {user["username"]: user for user in client.get("/api/users/", {"q": prefix}).json()["users"]}
    assert {name: (user["online"], user["last_seen"]) for name, user in found.items()} == {
        f"{prefix}-gone": (False, left_at),
        f"{prefix}-me": (False, None),
        f"{prefix}-never": (False, None),
        f"{prefix}-online": (True, None),
    }


def test_users_need_a_session(client, people):
    client.logout()
    assert client.get("/api/users/", {"q": people[0]}).status_code == 401
