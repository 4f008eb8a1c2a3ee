"""The chat page under lost live frames (headless Chromium): a frame dropped on the way is
noticed, by the next frame's `prev_seq` or, for the last one, by `room.head`, and fetched with a
`resume`, not a reload; every message then shows once, in order."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.system import test_browser
from tests.system.test_browser import pages_stayed_healthy
from tests.system.test_browser_resume import connection_state, history_requests, shows_each_once, tapped

browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]


def dropping(bodies: set[str], dropped: list[str]):
    """A rewrite of `message.new` that loses the live frames of these bodies (once each)."""

    def rewrite(frame: dict) -> dict | None:
        body = frame["message"]["body"]
        if body in bodies and body not in dropped:
            dropped.append(body)
            return None
        return frame

    return rewrite


def test_a_lost_live_message_is_fetched_when_the_next_one_shows_the_gap(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("before")
    tap = tapped(bob)
    bob.open_room(alice.username)
    bob.shows_delivered(["before"], [alice.username])
    loads = len(history_requests(bob))

    dropped: list[str] = []
    tap.rewrites["message.new"] = dropping({"lost"}, dropped)
    alice.send_with_enter("lost")
    alice.send_with_enter("after")
    shown = ["before", "lost", "after"]
    bob.shows_delivered(shown, [alice.username] * 3)
    shows_each_once(bob, shown)
    assert dropped == ["lost"]
    assert len(history_requests(bob)) == loads
    expect(connection_state(bob)).to_have_text("online")
    pages_stayed_healthy(alice, bob)


def test_a_lost_last_message_is_fetched_when_the_server_tells_the_rooms_head(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("before")
    tap = tapped(bob)
    bob.open_room(alice.username)
    bob.shows_delivered(["before"], [alice.username])

    lost: list[str] = []

    def lost_on_the_way(frame: dict) -> dict:
        # What the socket sends when the room's last frame never reached it (the channel
        # layer dropped it; this tap sits after the server, so it plays both parts). Once: the
        # resume's copy goes through.
        if lost:
            return frame
        lost.append(frame["message"]["body"])
        return {"type": "room.head", "room": frame["message"]["room"], "seq": frame["seq"]}

    tap.rewrites["message.new"] = lost_on_the_way
    alice.send_with_enter("the last word")
    bob.shows_delivered(["before", "the last word"], [alice.username] * 2)
    shows_each_once(bob, ["before", "the last word"])
    assert lost == ["the last word"]
    pages_stayed_healthy(alice, bob)
