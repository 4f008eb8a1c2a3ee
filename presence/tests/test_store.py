"""Presence against the real Redis: online while any connection beats."""

import asyncio
import uuid

import pytest

from echostream.core import redis
from presence import store

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def user_id():
    yield uuid.uuid4().hex
    await redis.client().aclose()


async def test_a_user_is_online_while_any_connection_is_alive(user_id):
    await store.mark_alive(user_id=user_id, connection_id="tab-1")
    await store.mark_alive(user_id=user_id, connection_id="tab-2")
    await store.mark_gone(user_id=user_id, connection_id="tab-1")
    assert await store.online_user_ids([user_id]) == {user_id}
    await store.mark_gone(user_id=user_id, connection_id="tab-2")
    assert await store.online_user_ids([user_id]) == set()


async def test_a_connection_that_stops_beating_goes_offline_by_itself(user_id, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    await store.mark_alive(user_id=user_id, connection_id="crashed-tab")
    assert await store.online_user_ids([user_id]) == {user_id}
    await asyncio.sleep(1.2)
    assert await store.online_user_ids([user_id]) == set()
