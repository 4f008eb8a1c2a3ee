"""Signing out works even when the sockets cannot be told (the channel layer is down)."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from tests.system.stack import free_port

pytestmark = pytest.mark.django_db


def test_sign_out_without_the_channel_layer_still_signs_out(client, settings):
    closed_port = free_port()  # nothing listens there
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [f"redis://127.0.0.1:{closed_port}/0"]}}
    }
    user = get_user_model().objects.create_user(username=f"u{uuid.uuid4().hex[:10]}", password="a-long-passphrase")
    client.force_login(user)
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/me/").status_code == 401
