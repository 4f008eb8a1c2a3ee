"""`presence` frames over in-process sockets, against the real Redis: who hears them, and when."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat import services as chat_services
from presence import services
from tests.inprocess import is_online

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def pair(make_user):
    """Two users who share a DM."""
    alice, bob = await make_user(), await make_user()
    await sync_to_async(chat_services.do_open_dm)(user=alice, other_username=bob.username)
    return alice, bob


async def test_a_user_coming_online_is_announced_to_who_shares_a_room_and_no_one_else(pair, open_socket):
    alice, bob = pair
    watcher, stranger = await open_socket(alice), await open_socket()
    await open_socket(bob)
    assert await watcher.answer() == {"type": "presence", "user": bob.username, "status": "online", "last_seen": None}
    assert await stranger.silent()


async def test_a_second_tab_changes_nothing_and_closing_one_of_two_keeps_the_user_online(pair, open_socket):
    alice, bob = pair
    watcher = await open_socket(alice)
    first = await open_socket(bob)
    assert (await watcher.answer())["status"] == "online"
    second = await open_socket(bob)
    await first.communicator.disconnect()
    assert await watcher.silent()
    assert await is_online(str(bob.pk))
    await second.communicator.disconnect()
    offline = await watcher.answer()
    assert (offline["type"], offline["user"], offline["status"]) == ("presence", bob.username, "offline")
    assert offline["last_seen"]
    assert not await is_online(str(bob.pk))


async def test_sockets_of_a_killed_process_leave_no_stale_online_after_the_ttl(pair, open_socket, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    alice, bob = pair
    watcher = await open_socket(alice)
    # A connection whose process died: it beat once and never closes.
    await services.do_connection_opened(user_id=str(bob.pk), username=bob.username, connection_id="killed-process")
    assert (await watcher.answer())["status"] == "online"
    offline = await watcher.answer()  # the sweeper of this process finds it expired
    assert (offline["user"], offline["status"]) == (bob.username, "offline")
    assert not await is_online(str(bob.pk))
    assert await watcher.silent()  # said once
