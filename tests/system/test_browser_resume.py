"""The chat page catching up after its network went away, and editing and deleting, in real
headless Chromium (Playwright, sync API) against the running roles.

A page that was offline must not reload anything over HTTP to catch up: on reconnecting it sends
one `resume` frame and shows what it missed (new messages, edits, deletes) exactly once, in order.
Assertions are about what each person's page shows, with Playwright's auto-waiting `expect`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, WebSocketRoute, expect

from tests.system import test_browser
from tests.system.test_browser import WAIT_MS, Person, pages_stayed_healthy

# The browser and the people, made as in test_browser.py.
browser = test_browser.browser
person = test_browser.person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=False, databases=[])]


def message_item(someone: Person, text: str) -> Locator:
    """The one message whose body is exactly `text`."""
    return someone.page.locator("#messages .message").filter(
        has=someone.page.locator(".body", has_text=re.compile(f"^{re.escape(text)}$"))
    )


class SocketTap:
    """Routes a page's WebSockets through the test: it can make the sockets open so far go
    silent both ways (a laptop asleep, a NAT that forgot the connection: nothing is closed,
    nothing arrives), rewrite server frames of a type before the page sees them (a rewrite
    that returns None drops the frame, as an overloaded server's fan-out may), and answer page
    frames of a type itself, in the server's place (an answer of None lets the frame through)."""

    def __init__(self) -> None:
        self.opened = 0
        self.silent_below = 0  # sockets with a smaller index are silent
        self.rewrites: dict[str, Callable[[dict], dict | None]] = {}
        self.answers: dict[str, Callable[[dict], dict | None]] = {}

    def route(self, socket: WebSocketRoute) -> None:
        index = self.opened
        self.opened += 1
        server = socket.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if index < self.silent_below:
                return
            frame = json.loads(message)
            answer = self.answers.get(frame.get("type"))
            answered = answer(frame) if answer else None
            if answered is None:
                server.send(message)
            else:
                socket.send(json.dumps(answered))

        def to_page(message: str | bytes) -> None:
            if index < self.silent_below:
                return
            frame = json.loads(message)
            rewrite = self.rewrites.get(frame.get("type"))
            rewritten = rewrite(frame) if rewrite else frame
            if rewritten is not None:
                socket.send(json.dumps(rewritten) if rewrite else message)

        socket.on_message(to_server)
        server.on_message(to_page)

    def silence_open_sockets(self) -> None:
        self.silent_below = self.opened


def tapped(someone: Person) -> SocketTap:
    """Taps the person's page, reloaded so that its socket goes through the tap."""
    tap = SocketTap()
    someone.page.route_web_socket(re.compile(r".*/ws/(\?.*)?$"), tap.route)
    someone.page.reload()
    expect(connection_state(someone)).to_have_text("online")
    assert tap.opened == 1
    return tap


def connection_state(someone: Person) -> Locator:
    return someone.page.locator("#connection-state")


def history_requests(someone: Person) -> list[str]:
    return [url for url in someone.requested if "/messages/" in url]


def edit_through_the_page(someone: Person, old: str, new: str) -> None:
    item = message_item(someone, old)
    item.hover()
    item.get_by_role("button", name="edit").click()
    editor = someone.page.locator("#messages .message.editing .edit-input")
    expect(editor).to_be_focused()
    expect(editor).to_have_value(old)
    editor.fill(new)
    editor.press("Enter")
    expect(someone.page.locator("#messages .message.editing")).to_have_count(0)


def delete_through_the_page(someone: Person, text: str) -> None:
    item = message_item(someone, text)
    item.hover()
    item.get_by_role("button", name="delete").click()
    # One more click to confirm: a delete cannot be undone.
    expect(item.locator(".msg-question")).to_have_text("Delete this message?")
    item.get_by_role("button", name="yes").click()


def shows_edited(someone: Person, text: str) -> None:
    expect(message_item(someone, text)).to_have_count(1, timeout=WAIT_MS)
    expect(message_item(someone, text).locator(".edited-mark")).to_have_text("(edited)")


def shows_each_once(someone: Person, texts: list[str]) -> None:
    for text in set(texts):
        expect(message_item(someone, text)).to_have_count(texts.count(text))


def test_a_page_that_was_offline_catches_up_with_what_it_missed_without_a_reload(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    before = ["one", "two", "three", "four"]
    for text in before:
        alice.send_with_enter(text)
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    bob.shows_delivered(before, [alice.username] * 4)
    alice.shows_delivered(before, [alice.username] * 4)
    loaded_history = history_requests(bob)
    room_id = bob.room_item(alice.username).get_attribute("data-room-id")
    last_seen = int(message_item(bob, "four").get_attribute("data-seq"))
    sent_frames: list[dict] = []
    bob.page.on("websocket", lambda socket: socket.on("framesent", lambda data: sent_frames.append(json.loads(data))))

    bob.context.set_offline(True)
    expect(connection_state(bob)).to_have_attribute("data-state", "reconnecting")
    # Bob writes while offline: the message waits as a pending bubble.
    bob.send_with_enter("written while offline")
    expect(bob.page.locator("#messages .message.pending .body")).to_have_text(["written while offline"])

    missed = [f"missed {n}" for n in range(1, 6)]
    for text in missed:
        alice.send_with_enter(text)
    edit_through_the_page(alice, "two", "two, edited")
    delete_through_the_page(alice, "three")
    after = ["one", "two, edited", "message deleted", "four", *missed]
    alice.shows_delivered(after, [alice.username] * 9)
    shows_edited(alice, "two, edited")
    # Everything is on Alice's page, so it went by Bob while his page was offline (a short
    # grace period, since this checks that something does not happen).
    bob.page.wait_for_timeout(500)
    expect(bob.bodies()).to_have_text([*before, "written while offline"])
    expect(connection_state(bob)).to_have_attribute("data-state", "reconnecting")

    bob.context.set_offline(False)
    expect(connection_state(bob)).to_have_text("online", timeout=WAIT_MS)
    expect(connection_state(bob)).to_have_attribute("data-state", "online")
    everything = [*after, "written while offline"]
    senders = [alice.username] * 9 + [bob.username]
    bob.shows_delivered(everything, senders)
    alice.shows_delivered(everything, senders)
    for someone in (alice, bob):
        shows_each_once(someone, everything)
        shows_edited(someone, "two, edited")
        deleted = someone.page.locator("#messages .message.deleted")
        expect(deleted.locator(".body")).to_have_text(["message deleted"])
        expect(deleted.locator(".edited-mark")).to_have_count(0)
    # Bob's page caught up through the socket (resume), not by fetching the history again.
    assert history_requests(bob) == loaded_history
    resumes = [frame for frame in sent_frames if frame["type"] == "resume"]
    assert resumes == [{"type": "resume", "rooms": {room_id: last_seen}}]
    bob.screenshot("browser-resume-bob")

    # Live again, and still each message once.
    alice.send_with_enter("and live again")
    everything.append("and live again")
    senders.append(alice.username)
    bob.shows_delivered(everything, senders)
    shows_each_once(bob, everything)
    pages_stayed_healthy(alice, bob)


def test_editing_and_deleting_through_the_page_shows_live_on_the_other_page(person):
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    for text in ("see you at 5", "wrong chat, sorry", "bring snacks"):
        alice.send_with_enter(text)
    expect(bob.room_item(alice.username)).to_be_visible(timeout=WAIT_MS)
    bob.open_room(alice.username)
    bob.send_with_enter("ok!")
    shown = ["see you at 5", "wrong chat, sorry", "bring snacks", "ok!"]
    senders = [alice.username] * 3 + [bob.username]
    alice.shows_delivered(shown, senders)
    bob.shows_delivered(shown, senders)

    # Only one's own messages have the controls.
    expect(alice.page.locator("#messages .message:not(.mine) .msg-edit")).to_have_count(0)
    expect(alice.page.locator("#messages .message.mine .msg-edit")).to_have_count(3)
    expect(bob.page.locator("#messages .message .msg-edit")).to_have_count(1)
    expect(message_item(bob, "ok!").locator(".msg-edit")).to_have_count(1)

    # Escape leaves the message as it was.
    item = message_item(alice, "bring snacks")
    item.hover()
    item.get_by_role("button", name="edit").click()
    alice.page.locator("#messages .edit-input").fill("bring nothing")
    alice.screenshot("browser-editing-alice")
    alice.page.locator("#messages .edit-input").press("Escape")
    expect(message_item(alice, "bring snacks")).to_have_count(1)
    expect(message_item(alice, "bring snacks").locator(".edited-mark")).to_have_count(0)

    edit_through_the_page(alice, "see you at 5", "see you at 6")
    shown[0] = "see you at 6"
    for someone in (alice, bob):
        expect(someone.bodies()).to_have_text(shown, timeout=WAIT_MS)
        shows_edited(someone, "see you at 6")
    alice.screenshot("browser-edit-alice")

    # Saying "no" keeps the message; "yes" deletes it on both pages.
    item = message_item(alice, "wrong chat, sorry")
    item.hover()
    item.get_by_role("button", name="delete").click()
    item.get_by_role("button", name="no").click()
    expect(message_item(alice, "wrong chat, sorry")).to_have_count(1)
    message_item(alice, "wrong chat, sorry").hover()
    message_item(alice, "wrong chat, sorry").get_by_role("button", name="delete").click()
    alice.screenshot("browser-delete-confirm-alice")
    message_item(alice, "wrong chat, sorry").get_by_role("button", name="yes").click()
    shown[1] = "message deleted"
    for someone in (alice, bob):
        expect(someone.bodies()).to_have_text(shown, timeout=WAIT_MS)
        deleted = someone.page.locator("#messages .message.deleted")
        expect(deleted).to_have_count(1)
        expect(deleted.locator(".msg-edit, .msg-delete")).to_have_count(0)
        expect(deleted.locator(".sender")).to_have_text(alice.username)

    # Bob edits his own message; Alice sees it.
    edit_through_the_page(bob, "ok!", "ok, see you at 6!")
    shown[3] = "ok, see you at 6!"
    for someone in (alice, bob):
        expect(someone.bodies()).to_have_text(shown, timeout=WAIT_MS)
    shows_edited(alice, "ok, see you at 6!")
    expect(alice.page.locator("#messages .message .status")).to_have_text([""] * 4)
    bob.screenshot("browser-edit-bob")

    # After a reload, the history shows the same.
    bob.page.reload()
    expect(connection_state(bob)).to_have_text("online")
    bob.open_room(alice.username)
    bob.shows_delivered(shown, senders)
    shows_edited(bob, "see you at 6")
    pages_stayed_healthy(alice, bob)


def test_an_edit_the_server_refuses_is_shown_as_an_error(person, browser, stack):
    """Alice's second device never hears of a delete (its socket drops that frame), so it
    still offers to edit the message; the server refuses the edit, and the page says so."""
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("soon gone")
    alice.send_with_enter("stays")
    alice.shows_delivered(["soon gone", "stays"], [alice.username] * 2)

    device = browser.new_context(
        base_url=stack.base_url, storage_state=alice.context.storage_state(),
        viewport={"width": 1100, "height": 640},
    )  # fmt: skip
    try:

        def hide_updates(socket: WebSocketRoute) -> None:
            server = socket.connect_to_server()
            socket.on_message(server.send)

            def to_page(message: str | bytes) -> None:
                if json.loads(message).get("type") != "message.updated":
                    socket.send(message)

            server.on_message(to_page)

        page = device.new_page()
        page.route_web_socket(re.compile(r".*/ws/(\?.*)?$"), hide_updates)
        second = Person(alice.username, device, page)
        page.on("pageerror", lambda error: second.script_errors.append(str(error)))
        page.goto("/")
        expect(connection_state(second)).to_have_text("online")
        second.open_dm(bob.username)
        second.shows_delivered(["soon gone", "stays"], [alice.username] * 2)

        delete_through_the_page(alice, "soon gone")
        expect(alice.bodies()).to_have_text(["message deleted", "stays"], timeout=WAIT_MS)
        edit_through_the_page(second, "soon gone", "back again")
        expect(page.locator("#side-error")).to_have_text("That message was deleted.", timeout=WAIT_MS)
        # The refused edit is not shown as if it had been made.
        expect(second.bodies()).to_have_text(["soon gone", "stays"])
        expect(page.locator("#messages .message .status")).to_have_text(["", ""])
        assert second.script_errors == []
    finally:
        device.close()
    pages_stayed_healthy(alice, bob)


def test_a_socket_that_silently_died_is_noticed_and_replaced(person):
    """No close, no offline event: only the missing pong to a ping tells the page."""
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("before the silence")
    tap = tapped(bob)
    bob.open_room(alice.username)
    bob.shows_delivered(["before the silence"], [alice.username])

    tap.silence_open_sockets()
    alice.send_with_enter("during the silence")
    alice.send_with_enter("still silent")
    edit_through_the_page(alice, "before the silence", "before the silence, edited")
    # Bob's page does not know yet: what he sends goes into the void, and waits for its ack.
    bob.send_with_enter("into the void")
    expect(bob.page.locator("#messages .message.pending .body")).to_have_text(["into the void"])
    # A ping goes every 10 s and needs its pong within 5 s.
    expect(connection_state(bob)).to_have_attribute("data-state", "reconnecting", timeout=20_000)
    expect(connection_state(bob)).to_have_text("online", timeout=WAIT_MS)
    assert tap.opened == 2
    shown = ["before the silence, edited", "during the silence", "still silent", "into the void"]
    senders = [alice.username] * 3 + [bob.username]
    bob.shows_delivered(shown, senders)
    alice.shows_delivered(shown, senders)
    shows_each_once(bob, shown)
    shows_edited(bob, "before the silence, edited")
    pages_stayed_healthy(alice, bob)


def test_a_room_the_server_says_to_reload_is_fetched_again(person):
    """resume.done's `reload` (the room's topic was re-created): the page drops what it shows
    of the room and loads it again over HTTP."""
    alice, bob = person("alice"), person("bob")
    alice.open_dm(bob.username)
    alice.send_with_enter("first")
    alice.send_with_enter("second")
    tap = tapped(bob)
    bob.open_room(alice.username)
    bob.shows_delivered(["first", "second"], [alice.username] * 2)
    room_id = bob.room_item(alice.username).get_attribute("data-room-id")
    loads = len(history_requests(bob))

    def reload_the_room(frame: dict) -> dict:
        return {**frame, "reload": [room_id]} if room_id in frame["rooms"] else frame

    tap.rewrites["resume.done"] = reload_the_room
    bob.context.set_offline(True)
    expect(connection_state(bob)).to_have_attribute("data-state", "reconnecting")
    alice.send_with_enter("third")
    alice.shows_delivered(["first", "second", "third"], [alice.username] * 3)
    bob.context.set_offline(False)
    expect(connection_state(bob)).to_have_text("online", timeout=WAIT_MS)
    bob.shows_delivered(["first", "second", "third"], [alice.username] * 3)
    shows_each_once(bob, ["first", "second", "third"])
    assert len(history_requests(bob)) == loads + 1
    pages_stayed_healthy(alice, bob)
