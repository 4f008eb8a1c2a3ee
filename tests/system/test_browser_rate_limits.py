"""The chat page under a tight send limit (headless Chromium, a stack of its own): sends refused
with `rate_limited` stay pending, show that they are slowed down, and go again by themselves after
`retry_after` with the same client_id; each message ends up sent once, in the order written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.system import test_browser
from tests.system.stack import Stack
from tests.system.test_browser import WAIT_MS, pages_stayed_healthy
from tests.system.test_browser_resume import shows_each_once

browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]

# Two sends at once, then one a second: five sends in a row are three over the limit.
TIGHT_SENDS = {"RATE_LIMIT_BURST": "2", "RATE_LIMIT_PER_SECOND": "1"}


@pytest.fixture(scope="module")
def stack(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own roles, with the tight send limit."""
    running = Stack(Path(tmp_path_factory.mktemp("stack-rate-limits")), services_env=TIGHT_SENDS)
    running.migrate()
    for role in ("web", "moderation", "bridge"):
        running.start(role)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


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
