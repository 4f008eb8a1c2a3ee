"""Presence, typing, delivery status, unread counts and room frames in real headless Chromium
(Playwright, sync API) against the running roles: what each person's page shows as the others
come and go, type, receive and read (docs/protocol.md, "Presence, typing and delivery status"
and "Rooms as they change"). Auto-waiting `expect`, never sleeps."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.system import test_browser
from tests.system.test_browser import WAIT_MS, Person, pages_stayed_healthy, unique

browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]


def dot_of(someone: Person, other: str):
    return someone.room_item(other).locator(".dot")


def own_ticks(someone: Person):
    return someone.page.locator("#messages .message.mine .tick")


def test_a_dm_partners_dot_turns_online_when_they_open_the_app_and_offline_when_they_close_it(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    expect(dot_of(alice, bob.username)).to_have_attribute("data-status", "online")
    expect(alice.page.locator("#room-dot .dot")).to_have_attribute("data-status", "online")
    expect(alice.page.locator("#room-members")).to_have_text("online")

    bob.page.close()
    expect(dot_of(alice, bob.username)).to_have_attribute("data-status", "offline", timeout=WAIT_MS)
    expect(alice.page.locator("#room-members")).to_have_text(re.compile(r"^last seen (just now|1 minute ago)$"))

    bob.reopen()
    expect(dot_of(alice, bob.username)).to_have_attribute("data-status", "online", timeout=WAIT_MS)
    expect(alice.page.locator("#room-members")).to_have_text("online")
    # Bob sees Alice the same way.
    expect(dot_of(bob, alice.username)).to_have_attribute("data-status", "online")
    pages_stayed_healthy(alice, bob)


def test_someone_typing_is_shown_and_goes_away_by_itself(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("what's up?")
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    typing = alice.page.locator("#typing")
    expect(typing).to_have_text("")

    bob.page.locator("#composer-input").press_sequentially("not much")
    expect(typing).to_have_text(f"{bob.username} is typing…")
    # Bob stops typing: it goes by itself.
    expect(typing).to_have_text("", timeout=WAIT_MS)
    # Bob types again and sends: it goes with the message.
    bob.page.locator("#composer-input").press_sequentially(", you?")
    expect(typing).to_have_text(f"{bob.username} is typing…")
    bob.page.locator("#composer-input").press("Enter")
    alice.shows_delivered(["what's up?", "not much, you?"], [alice.username, bob.username])
    expect(typing).to_have_text("")
    # Nobody is told about their own typing.
    expect(bob.page.locator("#typing")).to_have_text("")
    pages_stayed_healthy(alice, bob)


def test_my_message_goes_sent_then_delivered_then_read(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    bob.page.close()  # Bob is away

    alice.send_with_enter("are you there?")
    alice.shows_delivered(["are you there?"], [alice.username])
    expect(own_ticks(alice)).to_have_attribute("data-status", "sent")
    expect(own_ticks(alice)).to_have_text("✓")

    # Bob opens the app, not the conversation: the message reached his page.
    bob.reopen()
    expect(bob.room_item(alice.username).locator(".badge")).to_have_text("1")
    expect(own_ticks(alice)).to_have_attribute("data-status", "delivered", timeout=WAIT_MS)
    expect(own_ticks(alice)).to_have_text("✓✓")
    expect(own_ticks(alice)).to_have_attribute("aria-label", "delivered")

    bob.open_room(alice.username)
    expect(own_ticks(alice)).to_have_attribute("data-status", "read", timeout=WAIT_MS)
    expect(own_ticks(alice)).to_have_attribute("aria-label", "read")
    # Bob's page shows no ticks on Alice's message.
    expect(bob.page.locator("#messages .message .tick")).to_have_count(0)
    pages_stayed_healthy(alice, bob)


def test_in_a_group_my_message_says_how_many_have_read_it_and_who(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    name = unique("trip")
    alice.create_group(name, [bob.username, cy.username])
    alice.send_with_enter("who's in?")
    alice.shows_delivered(["who's in?"], [alice.username])
    expect(bob.group_item(name)).to_be_visible(timeout=WAIT_MS)
    bob.group_item(name).click()
    expect(bob.page.locator("#room-title")).to_have_text(name)
    tick = own_ticks(alice)
    expect(tick).to_have_text("✓✓ read by 1 of 2", timeout=WAIT_MS)
    expect(tick).to_have_attribute("title", f"read by {bob.username}")
    cy.group_item(name).click()
    expect(tick).to_have_text("✓✓ read by all", timeout=WAIT_MS)
    expect(tick).to_have_attribute("data-status", "read")
    pages_stayed_healthy(alice, bob, cy)


def test_unread_counts_are_live_clear_when_read_and_the_title_shows_the_total(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    for text in ("one", "two", "three"):
        alice.send_with_enter(text)
    badge = bob.room_item(alice.username).locator(".badge")
    expect(badge).to_have_text("3", timeout=WAIT_MS)
    expect(bob.page).to_have_title("(3) EchoStream")

    bob.open_room(alice.username)
    expect(badge).to_have_count(0)
    expect(bob.page).to_have_title("EchoStream")
    # While Bob looks at the conversation, new messages are read at once.
    alice.send_with_enter("four")
    bob.shows_delivered(["one", "two", "three", "four"], [alice.username] * 4)
    expect(bob.page).to_have_title("EchoStream")
    # After a reload nothing is unread either: the server has Bob's read receipt.
    bob.page.goto("/")
    expect(bob.room_item(alice.username)).to_be_visible()
    expect(badge).to_have_count(0)
    expect(bob.page).to_have_title("EchoStream")
    pages_stayed_healthy(alice, bob)


def test_a_new_dm_and_a_new_group_appear_for_the_other_members_at_once(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    alice.open_dm(bob.username)
    # Before any message: Bob's list has it (room.joined), without a reload.
    expect(bob.room_item(alice.username)).to_be_visible()
    expect(bob.room_item(alice.username).locator(".room-preview")).to_have_text("No messages yet")

    name = unique("plans")
    alice.create_group(name, [bob.username, cy.username])
    for someone in (bob, cy):
        expect(someone.group_item(name)).to_be_visible()
    pages_stayed_healthy(alice, bob, cy)


def test_members_are_added_and_removed_and_one_can_leave_a_group_from_the_page(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    name = unique("club")
    alice.create_group(name, [bob.username])
    expect(bob.group_item(name)).to_be_visible()

    alice.page.get_by_role("button", name="Members").click()
    members = alice.page.locator("#member-list .member")
    expect(members).to_have_count(2)
    alice.page.get_by_label("Username to add").fill(cy.username)
    alice.page.locator("#add-member-form").get_by_role("button", name="Add").click()
    expect(members).to_have_count(3)
    expect(cy.group_item(name)).to_be_visible()

    alice.page.get_by_role("button", name=f"Remove {bob.username} from the group").click()
    expect(members).to_have_count(2)
    expect(bob.group_item(name)).to_have_count(0)

    cy.group_item(name).click()
    expect(cy.page.locator("#room-title")).to_have_text(name)
    cy.page.get_by_role("button", name="Members").click()
    # Not an admin: no one to remove, no one to add.
    expect(cy.page.locator("#member-list .member")).to_have_count(2)
    expect(cy.page.locator(".member-remove")).to_have_count(0)
    expect(cy.page.locator("#add-member-form")).to_be_hidden()
    cy.page.get_by_role("button", name="Leave group").click()
    expect(cy.group_item(name)).to_have_count(0)
    expect(cy.page.locator("#room-title")).to_have_text("Pick a conversation")
    expect(members).to_have_count(1)
    expect(members).to_contain_text(alice.username)
    pages_stayed_healthy(alice, bob, cy)


def test_reading_in_one_tab_clears_the_unread_count_in_the_other(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("for both of your tabs")
    badge = bob.room_item(alice.username).locator(".badge")
    expect(badge).to_have_text("1", timeout=WAIT_MS)

    other_tab = bob.context.new_page()
    bob.watch(other_tab)
    other_tab.goto("/")
    other_tab.locator("#room-list .room-item").filter(has_text=alice.username).click()
    expect(other_tab.locator("#messages .message .body")).to_have_text(["for both of your tabs"])
    # Bob's own read receipt reaches his first tab: nothing is unread there either.
    expect(badge).to_have_count(0, timeout=WAIT_MS)
    expect(bob.page).to_have_title("EchoStream")
    pages_stayed_healthy(alice, bob)
