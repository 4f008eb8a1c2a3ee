"""Moderation in real headless Chromium against the running roles: a member reports a message
with the page's Report button, a moderator signs in to the Django admin in a browser of their
own, deletes the message from the report queue, and it vanishes from the members' open pages;
a room a moderator deletes vanishes likewise.
Every wait is Playwright's auto-waiting `expect`."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.system import test_browser
from tests.system.stack import Stack
from tests.system.test_browser import PASSWORD, WAIT_MS, Person, pages_stayed_healthy
from tests.system.test_moderation_admin import make_superuser

# The browser and the people, made as in test_browser.py.
browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]


def message_item(someone: Person, text: str):
    return someone.page.locator("#messages .message").filter(
        has=someone.page.locator(".body", has_text=re.compile(f"^{re.escape(text)}$"))
    )


def admin_page(browser: Browser, stack: Stack, username: str):
    """A fresh browser signed in to the Django admin through its own sign-in form."""
    context = browser.new_context(base_url=stack.base_url, viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.goto("/admin/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    return context, page


def test_a_reported_message_deleted_in_the_admin_vanishes_from_open_pages(person, browser, stack):
    alice, bob, mod = person("alice"), person("bob"), person("mod")
    make_superuser(stack, mod.username)
    bob.open_dm(alice.username)
    bob.send_with_enter("you are all idiots")
    alice.open_room(bob.username)
    alice.shows_delivered(["you are all idiots"], [bob.username])

    # alice reports it with the page's button: a small form asks why.
    item = message_item(alice, "you are all idiots")
    item.get_by_role("button", name="Report this message").click()
    item.get_by_label("Why report this message").fill("insults everyone")
    item.get_by_role("button", name="Report", exact=True).click()
    expect(item.locator(".msg-reported")).to_have_text("Reported")
    alice.screenshot("moderation-reported")

    # The moderator, in a browser of their own, finds it at the head of the queue.
    context, admin = admin_page(browser, stack, mod.username)
    try:
        admin.goto("/admin/moderation/report/?status__exact=open")
        admin.get_by_role("link", name="you are all idiots").first.click()
        expect(admin.locator("tr.context-message.reported")).to_contain_text("you are all idiots")
        admin.screenshot(path=str(test_browser.ARTIFACTS / "moderation-report-review.png"), full_page=True)
        admin.get_by_label("Reason").fill("insults")
        admin.get_by_role("button", name="Delete message").click()
        expect(admin.locator(".messagelist")).to_contain_text("deleted for everyone")
    finally:
        context.close()

    for member in (alice, bob):
        expect(message_item(member, "message deleted")).to_have_count(1, timeout=WAIT_MS)
        expect(member.page.get_by_text("you are all idiots")).to_have_count(0)
    pages_stayed_healthy(alice, bob)


def test_a_moderator_deletes_from_a_room_s_messages_page(person, browser, stack):
    alice, bob, mod = person("alice"), person("bob"), person("mod")
    make_superuser(stack, mod.username)
    alice.create_group("lounge", [bob.username])
    alice.send_with_enter("buy cheap watches")
    alice.shows_delivered(["buy cheap watches"], [alice.username])
    room_id = alice.page.url.rstrip("/").rsplit("/", 1)[-1]

    context, admin = admin_page(browser, stack, mod.username)
    try:
        admin.goto(f"/admin/chat/room/{room_id}/change/")
        admin.get_by_role("link", name="Messages").click()
        row = admin.locator("tr.room-message").filter(has_text="buy cheap watches")
        admin.screenshot(path=str(test_browser.ARTIFACTS / "moderation-room-messages.png"), full_page=True)
        row.get_by_placeholder("Why?").fill("spam")
        row.get_by_role("button", name="Delete").click()
        expect(admin.locator(".messagelist")).to_contain_text("deleted for everyone")
    finally:
        context.close()

    expect(message_item(alice, "message deleted")).to_have_count(1, timeout=WAIT_MS)
    expect(alice.page.get_by_text("buy cheap watches")).to_have_count(0)
    pages_stayed_healthy(alice, bob)


def test_a_room_a_moderator_deletes_vanishes_from_its_members_open_pages(person, browser, stack):
    alice, bob, mod = person("alice"), person("bob"), person("mod")
    make_superuser(stack, mod.username)
    name = f"doomed {bob.username}"
    alice.create_group(name, [bob.username])
    expect(bob.group_item(name)).to_be_visible()
    room_id = alice.page.url.rstrip("/").rsplit("/", 1)[-1]

    context, admin = admin_page(browser, stack, mod.username)
    try:
        admin.goto(f"/admin/chat/room/{room_id}/delete/")
        admin.get_by_role("button", name=re.compile(r"^Yes, I.m sure$")).click()
        expect(admin.locator(".messagelist")).to_contain_text("deleted successfully")
    finally:
        context.close()

    # alice had it open, bob only in his list: it goes from both without a reload, and alice's
    # page says why it closed rather than leaving her a composer whose sends would be refused.
    expect(alice.group_item(name)).to_have_count(0, timeout=WAIT_MS)
    expect(alice.page.locator("#room-title")).to_have_text("Not available")
    expect(alice.page.locator("#room-notice")).to_have_text("You are no longer in that conversation.")
    expect(alice.page.locator("#composer")).to_be_hidden()
    expect(bob.group_item(name)).to_have_count(0, timeout=WAIT_MS)
    pages_stayed_healthy(alice, bob)
