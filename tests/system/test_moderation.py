"""Moderation through the real pipeline (web, moderation worker, bridge from the Procfile): what
members see, what the room topic and MongoDB keep, and what the sender is told."""

from __future__ import annotations

import asyncio
import time

import pytest

from echostream.core import events, kafka
from tests.system.client import ChatClient
from tests.system.inspect import inbound_record_count, room_topic_events, stored_messages
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


@pytest.fixture
async def trio(clients):
    alice, bob, carol = await clients("alice"), await clients("bob"), await clients("carol")
    room = await alice.create_group("moderated", [bob.username, carol.username])
    return room["id"], alice, bob, carol


def run_in_stack(stack: Stack, code: str) -> str:
    """What `code` prints, run by `manage.py shell` against the stack's database."""
    return stack.manage("shell", "-v", "0", "-c", code).strip()


def created_bodies(room_id: str) -> list[str]:
    return [event.data.body for _, event in room_topic_events(room_id) if isinstance(event, events.MessageCreated)]


async def test_a_profane_message_arrives_censored_for_every_member_and_in_history(trio):
    room_id, alice, bob, carol = trio
    await alice.send_message(room_id, "this shit works")

    for person in (alice, bob, carol):
        message = (await person.next_frame("message.new"))["message"]
        assert (message["body"], message["moderation"]) == ("this **** works", {"action": "censored"})
    (stored,) = await stored_messages(room_id, at_least=1)
    assert (stored["body"], stored["moderation"]) == ("this **** works", {"action": "censored"})
    (shown,) = (await carol.history(room_id)).json()["messages"]
    assert shown["moderation"] == {"action": "censored"}
    assert created_bodies(room_id) == ["this **** works"]


async def expect_only_the_clean_message(room_id: str, sender: ChatClient, others: list[ChatClient], refused_id: str):
    """The refused message reached nobody and nothing: the clean one sent after it is the room's only one."""
    await sender.send_message(room_id, "a clean message")
    for person in others:
        assert (await person.next_frame("message.new"))["message"]["body"] == "a clean message"
    assert [m["body"] for m in await stored_messages(room_id, at_least=1)] == ["a clean message"]
    assert created_bodies(room_id) == ["a clean message"]
    assert all(event.data.client_id != refused_id for _, event in room_topic_events(room_id))


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("get it at http://spam.example.com/deal", "links to spam.example.com are not allowed in this room"),
        ("WHY IS NOBODY ANSWERING MY QUESTION", "capitals"),
        ("come to the casino tonight", "“casino” is not allowed in this room"),
    ],
)
async def test_a_rejected_message_reaches_no_member_no_topic_and_no_history(stack, trio, body, detail):
    room_id, alice, bob, carol = trio
    run_in_stack(
        stack,
        "from moderation.models import BannedPhrase, RoomPolicy; "
        f"RoomPolicy.objects.create(room_id={room_id!r}, denied_domains='example.com'); "
        f"BannedPhrase.objects.create(text='casino', room_id={room_id!r})",
    )
    client_id = await alice.send_message(room_id, body)

    assert (await alice.next_frame("message.ack"))["client_id"] == client_id
    rejected = await alice.next_frame("message.rejected", "message.new")
    assert (rejected["type"], rejected["reason"]) == ("message.rejected", "moderation")
    assert rejected["client_id"] == client_id
    assert rejected["detail"].startswith("Your message was not sent: ") and detail in rejected["detail"]
    await expect_only_the_clean_message(room_id, alice, [bob, carol], client_id)


async def test_the_same_text_a_fourth_time_within_a_minute_is_rejected(trio):
    room_id, alice, bob, _ = trio
    for _ in range(3):
        await alice.send_message(room_id, "Is anyone there?")
    assert [f["message"]["body"] for f in await bob.collect("message.new", 3)] == ["Is anyone there?"] * 3
    client_id = await alice.send_message(room_id, "is anyone   there?")
    rejected = await alice.next_frame("message.rejected")
    assert (rejected["reason"], rejected["client_id"]) == ("moderation", client_id)
    assert "same text more than 3 times" in rejected["detail"]
    await alice.send_message(room_id, "fine, bye")
    assert (await bob.next_frame("message.new"))["message"]["body"] == "fine, bye"
    assert created_bodies(room_id) == ["Is anyone there?"] * 3 + ["fine, bye"]


async def test_a_muted_user_is_refused_at_once_and_nothing_is_written(stack, trio):
    room_id, alice, bob, _ = trio
    run_in_stack(
        stack,
        "from django.contrib.auth.models import User; from moderation.models import Sanction; "
        f"Sanction.objects.create(user=User.objects.get(username={alice.username!r}), kind='mute', "
        f"room_id={room_id!r}, reason='cooling off')",
    )
    before = await asyncio.to_thread(inbound_record_count)
    client_id = await alice.send_message(room_id, "can I talk?")

    answer = await alice.next_frame("message.rejected", "message.ack")
    assert (answer["type"], answer["reason"], answer["client_id"]) == ("message.rejected", "moderation", client_id)
    assert "muted in this room" in answer["detail"] and "cooling off" in answer["detail"]
    assert await asyncio.to_thread(inbound_record_count) == before
    await bob.send_message(room_id, "bob may")
    assert (await alice.next_frame("message.new"))["message"]["body"] == "bob may"
    assert created_bodies(room_id) == ["bob may"]


async def test_an_edit_with_a_swear_word_is_censored_for_everyone(trio):
    room_id, alice, bob, _ = trio
    await alice.send_message(room_id, "hello")
    message = (await bob.next_frame("message.new"))["message"]
    assert "moderation" not in message
    await alice.edit(room_id, message["id"], "hello, shit")
    for person in (alice, bob):
        updated = (await person.next_frame("message.updated"))["message"]
        assert (updated["body"], updated["moderation"]) == ("hello, ****", {"action": "censored"})


async def test_a_flagged_message_is_delivered_and_opens_a_report(stack, trio):
    room_id, alice, bob, _ = trio
    run_in_stack(
        stack,
        "from moderation.models import RoomPolicy; "
        f"RoomPolicy.objects.create(room_id={room_id!r}, links='flag', denied_domains='example.org')",
    )
    await alice.send_message(room_id, "see https://somewhere.example.org/x")
    message = (await bob.next_frame("message.new"))["message"]
    assert message["body"] == "see https://somewhere.example.org/x" and "moderation" not in message
    # The report is written once the event is published, just after members may see it.
    code = (
        "from moderation.models import Report; "
        f"print(list(Report.objects.filter(message_id={message['id']!r}, reporter=None)"
        ".values_list('status', 'message_seq')))"
    )
    deadline = time.monotonic() + 60
    while (found := run_in_stack(stack, code)) == "[]" and time.monotonic() < deadline:
        pass
    assert found == f"[('open', {message['seq']})]"


@pytest.fixture(autouse=True)
def _inbound_topic_exists(stack: Stack) -> None:
    kafka.ensure_inbound_topic()
