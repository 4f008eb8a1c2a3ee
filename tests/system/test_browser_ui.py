"""The chat page used comfortably, in real headless Chromium (Playwright, sync API) against the
running roles: a phone-sized screen, drafts per room, the room list ordered by activity, room
addresses, links, finding people, feedback while waiting, human error messages, the keyboard.
Also makes the screenshots in docs/screenshots/. Auto-waiting `expect`, never sleeps."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route, expect

from tests.system import test_browser
from tests.system.stack import REPO
from tests.system.test_browser import WAIT_MS, Person, pages_stayed_healthy, unique

browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]

PHONE = {"width": 390, "height": 844}
SCREENSHOTS = REPO / "docs" / "screenshots"


def composer(someone: Person):
    return someone.page.locator("#composer-input")


def fits_the_screen(someone: Person) -> None:
    """Nothing sticks out sideways (the page never scrolls horizontally)."""
    width = someone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= someone.page.viewport_size["width"], f"the page is {width}px wide"


def test_on_a_phone_the_list_and_the_conversation_take_turns(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    alice.page.set_viewport_size(PHONE)
    conversation = alice.page.locator("main.room")
    room_list = alice.page.locator("#room-list")
    expect(conversation).to_be_hidden()
    fits_the_screen(alice)

    alice.open_dm(bob.username)
    expect(conversation).to_be_visible()
    expect(room_list).to_be_hidden()
    alice.send_with_enter("hi from my phone")
    alice.shows_delivered(["hi from my phone"], [alice.username])
    expect(alice.page.locator("#send-button")).to_be_in_viewport()
    fits_the_screen(alice)

    alice.page.get_by_role("button", name="Back to conversations").click()
    expect(room_list).to_be_visible()
    expect(conversation).to_be_hidden()
    alice.open_dm(cy.username)
    alice.send_with_button("and hi cy")
    alice.shows_delivered(["and hi cy"], [alice.username])

    # The browser's back button goes back to the list too; then another room.
    alice.page.go_back()
    expect(room_list).to_be_visible()
    alice.open_room(bob.username)
    alice.shows_delivered(["hi from my phone"], [alice.username])
    expect(bob.room_item(alice.username).locator(".badge")).to_have_text("1", timeout=WAIT_MS)
    pages_stayed_healthy(alice, bob, cy)


def test_a_draft_stays_with_its_room(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    alice.open_dm(bob.username)
    composer(alice).fill("half a thought for bob")
    alice.open_dm(cy.username)
    expect(composer(alice)).to_have_value("")
    composer(alice).fill("for cy")
    alice.open_room(bob.username)
    expect(composer(alice)).to_have_value("half a thought for bob")
    alice.open_room(cy.username)
    expect(composer(alice)).to_have_value("for cy")
    # Sending clears the draft of that room only.
    composer(alice).press("Enter")
    alice.shows_delivered(["for cy"], [alice.username])
    alice.open_room(bob.username)
    expect(composer(alice)).to_have_value("half a thought for bob")
    alice.open_room(cy.username)
    expect(composer(alice)).to_have_value("")
    pages_stayed_healthy(alice, bob, cy)


def test_the_room_list_is_ordered_by_latest_message_with_a_preview(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    alice.open_dm(bob.username)
    alice.send_with_enter("hi bob")
    alice.open_dm(cy.username)
    alice.send_with_enter("hi cy")
    names = alice.page.locator("#room-list .room-name")
    expect(names).to_have_text([f"@ {cy.username}", f"@ {bob.username}"], timeout=WAIT_MS)
    expect(alice.room_item(cy.username).locator(".room-preview")).to_have_text("You: hi cy")

    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    bob.send_with_enter("bob was here")
    expect(names).to_have_text([f"@ {bob.username}", f"@ {cy.username}"], timeout=WAIT_MS)
    expect(alice.room_item(bob.username).locator(".room-preview")).to_have_text("bob was here")
    expect(alice.room_item(bob.username).locator(".room-time")).to_have_text(re.compile(r"\d"))

    expect(cy.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    cy.open_room(alice.username)
    cy.send_with_enter("cy, later")
    expect(names).to_have_text([f"@ {cy.username}", f"@ {bob.username}"], timeout=WAIT_MS)
    expect(alice.room_item(cy.username).locator(".room-preview")).to_have_text("cy, later")
    alice.open_room(bob.username)
    alice.send_with_enter("and me")
    expect(names).to_have_text([f"@ {bob.username}", f"@ {cy.username}"], timeout=WAIT_MS)
    expect(alice.room_item(bob.username).locator(".room-preview")).to_have_text("You: and me")
    pages_stayed_healthy(alice, bob, cy)


def test_a_room_has_an_address_that_survives_a_reload_and_back_and_forward(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    alice.open_dm(bob.username)
    alice.send_with_enter("remember this")
    bob_url = alice.page.url
    assert re.search(r"/rooms/[^/]+/$", bob_url)
    alice.open_dm(cy.username)
    cy_url = alice.page.url
    assert cy_url != bob_url

    alice.page.go_back()
    expect(alice.page.locator("#room-title")).to_have_text(bob.username)
    alice.page.go_forward()
    expect(alice.page.locator("#room-title")).to_have_text(cy.username)

    alice.page.goto(bob_url)
    expect(alice.page.locator("#room-title")).to_have_text(bob.username)
    alice.shows_delivered(["remember this"], [alice.username])
    alice.page.reload()
    expect(alice.page.locator("#room-title")).to_have_text(bob.username)
    alice.shows_delivered(["remember this"], [alice.username])

    # Cy was never in Alice and Bob's conversation: the address shows him nothing of it.
    cy.page.goto(bob_url)
    expect(cy.page.locator("#room-notice")).to_contain_text("not available")
    expect(cy.bodies()).to_have_count(0)
    expect(cy.page.locator("#composer")).to_be_hidden()
    expect(cy.page.locator("#room-list")).to_be_visible()
    pages_stayed_healthy(alice, bob)


def test_links_in_messages_are_clickable_and_nothing_else_is(person):
    alice, bob = person("alice"), person("bob")
    text = "docs at https://example.com/guide?x=1. not javascript:alert(1) nor <a href='http://evil'>x</a>"
    alice.open_dm(bob.username)
    alice.send_with_enter(text)
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    for someone in (alice, bob):
        someone.shows_delivered([text], [alice.username])
        links = someone.page.locator("#messages .message .body a")
        expect(links).to_have_count(2)
        expect(links.first).to_have_attribute("href", "https://example.com/guide?x=1")
        expect(links.first).to_have_text("https://example.com/guide?x=1")
        expect(links.nth(1)).to_have_attribute("href", "http://evil/")
        for index in range(2):
            expect(links.nth(index)).to_have_attribute("target", "_blank")
            expect(links.nth(index)).to_have_attribute("rel", "noopener noreferrer")
        expect(someone.page.locator("#messages a[href^='javascript']")).to_have_count(0)
    pages_stayed_healthy(alice, bob)


def test_the_dm_box_suggests_usernames(person):
    alice, bob = person("alice"), person("bob")
    alice.page.locator("#dm-username").press_sequentially(bob.username[:-2])
    expect(alice.page.locator(f"#user-suggestions option[value='{bob.username}']")).to_have_count(1)
    pages_stayed_healthy(alice, bob)


def test_opening_a_dm_shows_progress_until_the_server_answers(person):
    alice, bob = person("alice"), person("bob")
    held: list[Route] = []
    alice.page.route("**/api/dms/", lambda route: held.append(route))
    alice.page.locator("#dm-username").fill(bob.username)
    alice.page.locator("#dm-form button").click()
    button = alice.page.locator("#dm-form button")
    expect(button).to_have_text("Opening…")
    expect(button).to_be_disabled()
    assert len(held) == 1
    held[0].continue_()
    expect(alice.page.locator("#room-title")).to_have_text(bob.username)
    expect(button).to_have_text("Chat")
    expect(button).to_be_enabled()
    pages_stayed_healthy(alice, bob)


def test_a_network_failure_is_told_in_words_not_as_failed_to_fetch(person):
    alice, bob = person("alice"), person("bob")
    alice.context.set_offline(True)
    alice.page.locator("#dm-username").fill(bob.username)
    alice.page.locator("#dm-form button").click()
    error = alice.page.locator("#side-error")
    expect(error).to_have_text("Could not reach EchoStream. Check your internet connection, then try again.")
    expect(alice.page.locator("#connection-banner")).to_be_visible()
    expect(alice.page.locator("#connection-banner")).to_contain_text("offline")
    alice.context.set_offline(False)
    expect(alice.page.locator("#connection-state")).to_have_text("online", timeout=WAIT_MS)
    alice.page.locator("#dm-form button").click()
    expect(alice.page.locator("#room-title")).to_have_text(bob.username)
    expect(error).to_have_text("")


def test_the_keyboard_reaches_every_room_and_every_control_has_a_label(person):
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    alice.open_dm(bob.username)
    alice.open_dm(cy.username)
    for label in ("Username to message", "New group name", "Group members, separated by commas", "Message"):
        expect(alice.page.get_by_label(label, exact=True)).to_have_count(1)

    entries = alice.page.locator("#room-list .room-item")
    # The list in its final order first (the newer DM on top): a re-sort under the focus would
    # move the focused entry, and Tab would go on from its new place.
    expect(entries).to_have_count(2)
    expect(entries.first.locator(".room-name")).to_contain_text(cy.username)
    alice.page.locator("#group-form button").focus()
    alice.page.keyboard.press("Tab")
    expect(entries.first).to_be_focused()
    alice.page.keyboard.press("Tab")
    expect(entries.nth(1)).to_be_focused()
    outline = entries.nth(1).evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline != "none"
    second = entries.nth(1).locator(".room-name").text_content()[2:]
    alice.page.keyboard.press("Enter")
    expect(alice.page.locator("#room-title")).to_have_text(second)
    expect(entries.nth(1)).to_have_class("room-item active")
    pages_stayed_healthy(alice, bob, cy)


def test_a_room_still_loading_leaves_the_keyboard_where_the_reader_moved_it(person):
    alice, bob = person("alice"), person("bob")
    history = re.compile(r"/api/rooms/[^/]+/messages/")
    held: list[Route] = []
    alice.page.route(history, lambda route: held.append(route))
    alice.page.locator("#dm-username").fill(bob.username)
    alice.page.locator("#dm-form button").click()
    messages = alice.page.locator("#messages")
    expect(messages).to_have_attribute("aria-busy", "true")
    entry = alice.room_item(bob.username)
    alice.page.locator("#group-form button").focus()
    alice.page.keyboard.press("Tab")
    expect(entry).to_be_focused()

    for route in held:
        route.continue_()
    alice.page.unroute(history)
    expect(messages).not_to_have_attribute("aria-busy", "true")
    expect(entry).to_be_focused()
    pages_stayed_healthy(alice, bob)


def test_sign_up_hints_are_linked_to_their_fields(browser, stack):
    context = browser.new_context(base_url=stack.base_url)
    try:
        page = context.new_page()
        page.goto("/signup/")
        for field in page.locator("#signup-form input[aria-describedby]").all():
            for target in field.get_attribute("aria-describedby").split():
                expect(page.locator(f"#{target}")).to_have_count(1)
        expect(page.get_by_label("Username")).to_have_count(1)
    finally:
        context.close()


def test_screenshots_of_the_desktop_and_phone_views(person):
    """docs/screenshots/: made here so that they stay current."""
    alice, bob, cy = person("alice"), person("bob"), person("cy")
    name = unique("weekend")
    alice.create_group(name, [bob.username, cy.username])
    alice.send_with_enter("Hiking on Saturday? Route: https://example.com/trails/ridge")
    expect(bob.group_item(name)).to_be_visible(timeout=WAIT_MS)
    bob.group_item(name).click()
    bob.send_with_enter("I'm in!")
    bob.send_with_enter("Bringing snacks")
    alice.shows_delivered(
        ["Hiking on Saturday? Route: https://example.com/trails/ridge", "I'm in!", "Bringing snacks"],
        [alice.username, bob.username, bob.username],
    )
    alice.open_dm(bob.username)
    alice.send_with_enter("See you there")
    alice.shows_delivered(["See you there"], [alice.username])
    alice.group_item(name).click()
    alice.send_with_enter("Great, 8am at the station")
    expect(alice.page.locator("#messages .message.mine .tick").last).to_have_attribute(
        "data-status", re.compile("read"), timeout=WAIT_MS
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice.page.screenshot(path=str(SCREENSHOTS / "desktop.png"))

    bob.page.set_viewport_size(PHONE)
    bob.page.get_by_role("button", name="Back to conversations").click()
    expect(bob.page.locator("#room-list")).to_be_visible()
    bob.page.screenshot(path=str(SCREENSHOTS / "phone-list.png"))
    bob.group_item(name).click()
    bob.shows_delivered(
        [
            "Hiking on Saturday? Route: https://example.com/trails/ridge",
            "I'm in!",
            "Bringing snacks",
            "Great, 8am at the station",
        ],
        [alice.username, bob.username, bob.username, alice.username],
    )
    bob.page.screenshot(path=str(SCREENSHOTS / "phone-room.png"))
    pages_stayed_healthy(alice, bob, cy)


def test_scrolled_up_the_view_stays_put_and_a_pill_tells_of_new_messages(person):
    alice, bob = person("alice"), person("bob")
    bob.open_dm(alice.username)
    sent = [f"line {n}" for n in range(1, 56)]
    for text in sent:
        bob.page.locator("#composer-input").fill(text)
        bob.page.locator("#composer-input").press("Enter")
    bob.shows_delivered(sent, [bob.username] * len(sent))
    expect(alice.room_item(bob.username)).to_be_visible(timeout=WAIT_MS)
    alice.open_room(bob.username)
    messages = alice.page.locator("#messages")
    # The newest page (50) at the bottom.
    expect(alice.bodies()).to_have_count(50)
    expect(alice.bodies().last).to_be_in_viewport()

    # Scrolling to the top loads the older ones above, keeping what was on screen in place.
    messages.evaluate("list => { list.scrollTop = 0; }")
    expect(alice.bodies()).to_have_count(55)
    expect(alice.bodies().first).to_have_text("line 1")
    assert messages.evaluate("list => list.scrollTop") > 0
    expect(alice.page.locator("#messages .message", has_text="line 6").first).to_be_in_viewport()

    # A new message while scrolled up: the view stays, a pill says so.
    top = messages.evaluate("list => list.scrollTop")
    bob.send_with_enter("something new")
    pill = alice.page.get_by_role("button", name="New messages ↓")
    expect(pill).to_be_visible(timeout=WAIT_MS)
    assert messages.evaluate("list => list.scrollTop") == top
    pill.click()
    expect(pill).to_be_hidden()
    expect(alice.bodies().last).to_have_text("something new")
    expect(alice.bodies().last).to_be_in_viewport()
    pages_stayed_healthy(alice, bob)
