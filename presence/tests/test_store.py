"""Presence against the real Redis: online while any connection beats."""

import asyncio
import time
import uuid
from datetime import datetime

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


async def test_only_the_first_connection_makes_the_user_come_online(user_id):
    assert await store.mark_alive(user_id=user_id, connection_id="tab-1") is True
    assert await store.mark_alive(user_id=user_id, connection_id="tab-2") is False
    assert await store.mark_alive(user_id=user_id, connection_id="tab-1") is False  # a heartbeat


async def test_only_the_last_connection_to_close_makes_the_user_go_offline_and_keeps_when(user_id):
    await store.mark_alive(user_id=user_id, connection_id="tab-1")
    await store.mark_alive(user_id=user_id, connection_id="tab-2")
    assert await store.mark_gone(user_id=user_id, connection_id="tab-1") is None
    last_seen = await store.mark_gone(user_id=user_id, connection_id="tab-2")
    assert last_seen is not None
    assert await store.last_seen_of([user_id]) == {user_id: last_seen}
    assert await store.mark_gone(user_id=user_id, connection_id="tab-2") is None  # told once


async def test_a_user_whose_connections_all_expired_is_swept_offline_once(user_id, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    await store.mark_alive(user_id=user_id, connection_id="killed-process-tab")
    assert user_id not in await store.sweep_expired()
    await asyncio.sleep(1.2)
    swept = await asyncio.gather(store.sweep_expired(), store.sweep_expired())
    assert [user_id in found for found in swept].count(True) == 1
    assert (await store.last_seen_of([user_id]))[user_id] is not None
    assert await store.mark_alive(user_id=user_id, connection_id="new-tab") is True  # back online: told again


async def test_a_sweep_keeps_a_user_with_one_live_connection_online(user_id, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    await store.mark_alive(user_id=user_id, connection_id="dead-tab")
    await asyncio.sleep(0.6)
    await store.mark_alive(user_id=user_id, connection_id="live-tab")
    await asyncio.sleep(0.6)
    assert user_id not in await store.sweep_expired()
    assert await store.online_user_ids([user_id]) == {user_id}


async def test_a_closing_tab_clears_only_the_typing_state_it_set(user_id):
    await store.start_typing(room_id="r", user_id=user_id, connection_id="tab-1")
    await store.start_typing(room_id="r", user_id=user_id, connection_id="tab-2")
    assert await store.stop_typing(room_id="r", user_id=user_id, connection_id="tab-1") is False
    assert await store.stop_typing(room_id="r", user_id=user_id, connection_id="tab-2") is True
    assert await store.stop_typing(room_id="r", user_id=user_id) is False


async def test_a_reconnect_loop_announces_a_bounded_number_of_changes_and_ends_offline(user_id, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    settings.PRESENCE_FLAP_ANNOUNCEMENTS = 3
    settings.PRESENCE_FLAP_WINDOW_SECONDS = 60
    announced = 0
    for cycle in range(50):
        announced += await store.mark_alive(user_id=user_id, connection_id=f"tab-{cycle}")
        announced += await store.mark_gone(user_id=user_id, connection_id=f"tab-{cycle}") is not None
    # Three online/offline pairs, then the user stays announced online: no frame per cycle.
    assert announced == 2 * 3 + 1
    closed_at = time.time()
    assert await store.online_user_ids([user_id]) == set()
    # The final status is still told: the sweep announces offline once the held status runs out.
    assert user_id not in await store.sweep_expired()
    await asyncio.sleep(1.2)
    swept = await store.sweep_expired()
    assert user_id in swept
    assert abs(datetime.fromisoformat(swept[user_id]).timestamp() - closed_at) < 0.5


async def test_a_user_is_admitted_up_to_the_most_connections_and_again_once_one_closes(user_id):
    assert [await store.admit(user_id=user_id, connection_id=f"tab-{n}", most=2) for n in range(3)] == [
        True,
        True,
        False,
    ]
    # One already counted is admitted again (a retried connect).
    assert await store.admit(user_id=user_id, connection_id="tab-1", most=2) is True
    await store.mark_gone(user_id=user_id, connection_id="tab-0")
    assert await store.admit(user_id=user_id, connection_id="tab-2", most=2) is True


async def test_connections_opened_at_once_cannot_all_pass_the_most(user_id):
    admitted = await asyncio.gather(
        *(store.admit(user_id=user_id, connection_id=f"tab-{n}", most=5) for n in range(40))
    )
    assert sum(admitted) == 5


async def test_a_connection_that_stopped_beating_no_longer_counts(user_id, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    assert await store.admit(user_id=user_id, connection_id="crashed-tab", most=1) is True
    assert await store.admit(user_id=user_id, connection_id="new-tab", most=1) is False
    await asyncio.sleep(1.2)
    assert await store.admit(user_id=user_id, connection_id="new-tab", most=1) is True
