"""The chat page in real headless Chromium (Playwright, sync API) against the running roles.

Each person signs up through the real sign-up page in a browser context of their own and uses the
page as a person would: the forms, the room list, the composer. Assertions are about what each
person's page shows, and wait with Playwright's auto-waiting `expect`, never with sleeps."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    expect,
    sync_playwright,
)

from tests.system.stack import REPO, Stack

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct-horse-battery-staple"
# The first message in a fresh room goes through Kafka, the moderation worker and the bridge.
WAIT_MS = 20_000


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:8]}"


@dataclass
class Person:
    username: str
    context: BrowserContext
    page: Page
    script_errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def note_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.request.method} {response.url} {response.status}")

    def note_console(self, message: ConsoleMessage) -> None:
        # The Content-Security-Policy refuses inline code and other origins: any refusal is a bug.
        if "Content Security Policy" in message.text:
            self.script_errors.append(message.text)

    def note_failure(self, request: Request) -> None:
        # A reload cancels what is in flight: that is not a failure of the app.
        if request.failure != "net::ERR_ABORTED":
            self.failed.append(f"{request.method} {request.url} {request.failure}")

    def watch(self, page: Page) -> None:
        """Notes what goes wrong on the page: script errors, CSP refusals, failed requests."""
        page.on("pageerror", lambda error: self.script_errors.append(str(error)))
        page.on("request", lambda request: self.requested.append(request.url))
        page.on("response", self.note_response)
        page.on("requestfailed", self.note_failure)
        page.on("console", self.note_console)

    def reopen(self, path: str = "/") -> None:
        """Opens the app again in a new tab (after `page.close()`: the person comes back)."""
        self.page = self.context.new_page()
        self.watch(self.page)
        self.page.goto(path)
        expect(self.page.locator("#connection-state")).to_have_text("online")

    # --- what the person does ---------------------------------------------------------
    def open_dm(self, other: str) -> None:
        self.page.locator("#dm-username").fill(other)
        self.page.locator("#dm-form").get_by_role("button", name="Chat").click()
        expect(self.page.locator("#room-title")).to_have_text(other)
        expect(self.room_item(other)).to_have_class("room-item active")

    def send_with_enter(self, text: str) -> None:
        self.page.locator("#composer-input").fill(text)
        self.page.locator("#composer-input").press("Enter")
        expect(self.page.locator("#composer-input")).to_have_value("")

    def send_with_button(self, text: str) -> None:
        self.page.locator("#composer-input").fill(text)
        self.page.locator("#send-button").click()
        expect(self.page.locator("#composer-input")).to_have_value("")

    def create_group(self, name: str, members: list[str]) -> None:
        self.page.locator("#group-name").fill(name)
        self.page.locator("#group-members").fill(", ".join(members))
        self.page.locator("#group-form").get_by_role("button", name="Create group").click()
        expect(self.page.locator("#room-title")).to_have_text(name)
        expect(self.group_item(name)).to_have_class("room-item active")

    def open_room(self, name: str) -> None:
        self.room_item(name).click()
        expect(self.page.locator("#room-title")).to_have_text(name)
        expect(self.room_item(name)).to_have_class("room-item active")

    # --- what the page shows ---------------------------------------------------------
    def room_item(self, name: str) -> Locator:
        return self.page.locator("#room-list .room-item").filter(
            has=self.page.locator(".room-name", has_text=f"@ {name}")
        )

    def group_item(self, name: str) -> Locator:
        return self.page.locator("#room-list .room-item").filter(
            has=self.page.locator(".room-name", has_text=f"# {name}")
        )

    def bodies(self) -> Locator:
        return self.page.locator("#messages .message .body")

    def senders(self) -> Locator:
        return self.page.locator("#messages .message .sender")

    def shows_delivered(self, bodies: list[str], senders: list[str]) -> None:
        """Exactly these messages, in this order, none of them still a pending bubble."""
        expect(self.bodies()).to_have_text(bodies, timeout=WAIT_MS)
        expect(self.senders()).to_have_text(senders)
        expect(self.page.locator("#messages .message.pending")).to_have_count(0)
        expect(self.page.locator("#messages .message:not([data-seq])")).to_have_count(0)

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def person(browser: Browser, stack: Stack) -> Iterator[Callable[[str], Person]]:
    """Makes a person: a fresh browser context, signed up through the real sign-up page."""
    contexts: list[BrowserContext] = []
    expect.set_options(timeout=10_000)

    def make(name: str) -> Person:
        context = browser.new_context(base_url=stack.base_url, viewport={"width": 1100, "height": 640})
        contexts.append(context)
        page = context.new_page()
        someone = Person(unique(name), context, page)
        someone.watch(page)

        page.goto("/signup/")
        expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
        page.locator("#signup-form input[name=username]").fill(someone.username)
        page.locator("#signup-form input[name=password1]").fill(PASSWORD)
        page.locator("#signup-form input[name=password2]").fill(PASSWORD)
        page.locator("#signup-form").get_by_role("button", name="Sign up").click()

        expect(page).to_have_url(stack.base_url + "/")
        page.wait_for_load_state("load")
        assert someone.failed == [], f"the chat page did not load whole: {someone.failed}"
        expect(page.locator("#me-name")).to_have_text(someone.username)
        expect(page.locator("#connection-state")).to_have_text("online")
        expect(page.locator("#room-title")).to_have_text("Pick a conversation")
        # No conversation is picked yet, so there is nowhere to write.
        expect(page.locator("#composer")).to_be_hidden()
        return someone

    yield make
    for context in contexts:
        context.close()


def pages_stayed_healthy(*people: Person) -> None:
    for someone in people:
        assert someone.script_errors == [], f"{someone.username}'s page threw: {someone.script_errors}"
        assert someone.failed == [], f"{someone.username}'s page had failed requests: {someone.failed}"


def test_two_people_talk_live_in_a_direct_conversation(person):
    alice, bob = person("alice"), person("bob")

    alice.open_dm(bob.username)
    expect(alice.page.locator("#composer")).to_be_visible()
    alice.send_with_enter("hi bob, it's alice")
    alice.shows_delivered(["hi bob, it's alice"], [alice.username])

    # Bob was looking at nothing: the new conversation turns up in his list, marked unread.
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    expect(bob.room_item(alice.username).locator(".badge")).to_have_text("1")
    expect(bob.bodies()).to_have_count(0)
    bob.open_room(alice.username)
    expect(bob.room_item(alice.username).locator(".badge")).to_have_count(0)
    bob.shows_delivered(["hi bob, it's alice"], [alice.username])

    bob.send_with_button("hello alice!")
    both = ["hi bob, it's alice", "hello alice!"]
    bob.shows_delivered(both, [alice.username, bob.username])
    # Alice has the conversation open: the reply shows up live, with no unread badge.
    alice.shows_delivered(both, [alice.username, bob.username])
    expect(alice.room_item(bob.username).locator(".badge")).to_have_count(0)

    # Each side's own messages are the ones on the "mine" side.
    expect(alice.page.locator("#messages .message.mine .body")).to_have_text(["hi bob, it's alice"])
    expect(bob.page.locator("#messages .message.mine .body")).to_have_text(["hello alice!"])
    alice.screenshot("browser-dm-alice")
    bob.screenshot("browser-dm-bob")
    pages_stayed_healthy(alice, bob)


def test_message_text_is_shown_as_text_never_as_html(person):
    alice, bob = person("alice"), person("bob")
    image = '<img src=x onerror="window.__pwned=1">'
    bold = "<b>bold</b>"

    alice.open_dm(bob.username)
    alice.send_with_enter(image)
    alice.send_with_enter(bold)
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    # A plain message after the two: once it is on both pages, so is anything the two could have done.
    bob.send_with_enter("that is just text")

    shown = [image, bold, "that is just text"]
    for someone in (alice, bob):
        someone.shows_delivered(shown, [alice.username, alice.username, bob.username])
        messages = someone.page.locator("#messages")
        expect(messages.locator("b")).to_have_count(0)
        expect(messages.locator("img")).to_have_count(0)
        assert someone.page.evaluate("typeof window.__pwned") == "undefined"
        assert [url for url in someone.requested if url.rstrip("/").endswith("/x")] == []
    pages_stayed_healthy(alice, bob)


def test_history_is_still_there_after_a_reload(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("first, before the reload")
    alice.send_with_enter("second, before the reload")
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    bob.send_with_enter("third, from bob")
    history = ["first, before the reload", "second, before the reload", "third, from bob"]
    senders = [alice.username, alice.username, bob.username]
    alice.shows_delivered(history, senders)
    bob.shows_delivered(history, senders)

    for someone, other in ((alice, bob), (bob, alice)):
        # The address names the open room: a reload opens it again, with its history.
        room_url = someone.page.url
        assert "/rooms/" in room_url
        someone.page.reload()
        expect(someone.page.locator("#connection-state")).to_have_text("online")
        expect(someone.page).to_have_url(room_url)
        expect(someone.page.locator("#room-title")).to_have_text(other.username)
        someone.shows_delivered(history, senders)
        # Without a room in the address, no conversation is picked.
        someone.page.goto("/")
        expect(someone.page.locator("#connection-state")).to_have_text("online")
        expect(someone.page.locator("#room-title")).to_have_text("Pick a conversation")
        expect(someone.bodies()).to_have_count(0)
        # Both have read everything: nothing is marked unread after the reload.
        expect(someone.room_item(other.username)).to_be_visible()
        expect(someone.room_item(other.username).locator(".badge")).to_have_count(0)
        someone.open_room(other.username)
        someone.shows_delivered(history, senders)
    pages_stayed_healthy(alice, bob)
