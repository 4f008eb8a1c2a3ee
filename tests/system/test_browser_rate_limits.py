"""The chat page under a tight send limit (headless Chromium, a stack of its own): sends refused
with `rate_limited` stay pending, show that they are slowed down, and go again by themselves after
`retry_after` with the same client_id; each message ends up sent once, in the order written. A
resume refused with `rate_limited` goes again too: the page never stays stuck resuming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.system import test_browser
from tests.system.stack import Stack, private_stack
from tests.system.test_browser import WAIT_MS, pages_stayed_healthy
from tests.system.test_browser_delivery import dropping
from tests.system.test_browser_resume import (
    SocketTap,
    connection_state,
    edit_through_the_page,
    history_requests,
    message_item,
    shows_each_once,
    tapped,
)

browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]

# Two sends at once, then one a second: five sends in a row are three over the limit. One edit,
# then one each 4 seconds: an edit right after another is refused.
TIGHT_SENDS = {
    "RATE_LIMIT_BURST": "2",
    "RATE_LIMIT_PER_SECOND": "1",
    "RATE_LIMIT_EDIT_BURST": "1",
    "RATE_LIMIT_EDIT_PER_SECOND": "0.25",
}


@pytest.fixture(scope="module")
def stack(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own roles, with the tight send limit."""
    yield from private_stack(Path(tmp_path_factory.mktemp("stack-rate-limits")), "ratelimits", **TIGHT_SENDS)


def test_sends_over_the_rate_limit_are_retried_and_each_is_sent_once_in_order(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    # The conversation has no message yet: Bob's list shows it once loaded again.
    bob.page.reload()
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)

    sent = [f"quick {n}" for n in range(1, 6)]
    for body in sent:
        alice.send_with_enter(body)
    # Some were refused: they say so on their bubble, and are not failed.
    slowed = alice.page.locator("#messages .message.pending.slowed .status")
    expect(slowed.first).to_have_text("sending slowed down, retrying…")

    senders = [alice.username] * len(sent)
    alice.shows_delivered(sent, senders)
    bob.shows_delivered(sent, senders)
    for someone in (alice, bob):
        shows_each_once(someone, sent)
        expect(someone.page.locator("#messages .message.slowed")).to_have_count(0)
        expect(someone.page.locator("#messages .message .status", has_text="not sent")).to_have_count(0)

    # Stored once each, in order: a reload shows the same from history.
    bob.page.reload()
    expect(bob.page.locator("#connection-state")).to_have_text("online")
    bob.open_room(alice.username)
    bob.shows_delivered(sent, senders)
    pages_stayed_healthy(alice, bob)


def refusing_resumes(tap: SocketTap, count: int) -> list[dict]:
    """Makes the tap play the server refusing the page's next `count` resumes with `rate_limited`
    (they never reach the server); the cursors of each refused resume are listed in the result."""
    refused: list[dict] = []

    def refuse(frame: dict) -> dict | None:
        if len(refused) >= count:
            return None
        refused.append(frame["rooms"])
        return {
            "type": "message.rejected", "client_id": None, "room": None, "reason": "rate_limited",
            "retry_after": 0.5, "detail": "Too many resumes.",
        }  # fmt: skip

    tap.answers["resume"] = refuse
    return refused


def test_a_resume_refused_with_rate_limited_is_sent_again_on_the_same_socket(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("before")
    tap = tapped(bob)
    bob.open_room(alice.username)
    bob.shows_delivered(["before"], [alice.username])
    loads = len(history_requests(bob))

    # "after" shows that "lost" was lost; the page's resume for it is refused once.
    refused = refusing_resumes(tap, 1)
    dropped: list[str] = []
    tap.rewrites["message.new"] = dropping({"lost"}, dropped)
    alice.send_with_enter("lost")
    alice.send_with_enter("after")
    shown = ["before", "lost", "after"]
    bob.shows_delivered(shown, [alice.username] * 3)
    shows_each_once(bob, shown)
    assert dropped == ["lost"]
    assert len(refused) == 1
    # Caught up by the resume sent again: not by a new socket (the resume timeout's), not by a reload.
    assert tap.opened == 1
    assert len(history_requests(bob)) == loads
    expect(connection_state(bob)).to_have_text("online")
    pages_stayed_healthy(alice, bob)


def test_an_edit_refused_with_rate_limited_is_sent_again(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("one")
    alice.send_with_enter("two")
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    bob.shows_delivered(["one", "two"], [alice.username] * 2)

    edit_through_the_page(alice, "one", "one, edited")
    edit_through_the_page(alice, "two", "two, edited")
    # The second came right after the first: refused at first, it says so, and goes again.
    expect(message_item(alice, "two, edited").locator(".status")).to_have_text("slowed down, retrying…")

    edited = ["one, edited", "two, edited"]
    for someone in (alice, bob):
        someone.shows_delivered(edited, [alice.username] * 2)
        expect(someone.page.locator("#messages .message .edited-mark")).to_have_count(2)
        expect(someone.page.locator("#messages .message.slowed")).to_have_count(0)
    assert alice.page.locator("#side-error").text_content() == ""
    pages_stayed_healthy(alice, bob)
