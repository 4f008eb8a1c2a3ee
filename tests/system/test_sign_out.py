"""A socket lives no longer than the credentials it was opened with: signing out,
deactivation and a password change close it with 4401 at once."""

from __future__ import annotations

import pytest

from tests.system.client import ChatClient
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]

CLOSE_UNAUTHENTICATED = 4401


async def assert_closed_and_deaf(leaver: ChatClient, other: ChatClient, room_id: str) -> None:
    assert await leaver.close_code(timeout=30) == CLOSE_UNAUTHENTICATED
    await other.send_message(room_id, "after you left")
    await other.next_frame("message.new", timeout=30)
    assert [frame for frame in await leaver.quiet_frames(1) if frame["type"] == "message.new"] == []


def change_user(stack: Stack, username: str, statements: str) -> None:
    """Changes the user the way the admin does: a model save, which sends the signals."""
    stack.manage(
        "shell",
        "-c",
        f"from django.contrib.auth.models import User; user = User.objects.get(username={username!r}); {statements}",
    )


@pytest.fixture
async def pair(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room = await alice.open_dm(bob.username)
    # Both sockets are in the room's group: a message reaches both.
    await bob.send_message(room["id"], "hello")
    await alice.next_frame("message.new", timeout=30)
    await bob.next_frame("message.new", timeout=30)
    return alice, bob, room


async def test_signing_out_closes_the_socket_with_4401(pair, stack):
    alice, bob, room = pair
    response = await alice.http.post("/api/auth/logout/", headers={"X-CSRFToken": await alice._csrf()})
    assert response.status_code == 204
    await assert_closed_and_deaf(alice, bob, room["id"])


async def test_deactivating_a_user_closes_their_socket(pair, stack):
    alice, bob, room = pair
    change_user(stack, alice.username, "user.is_active = False; user.save()")
    await assert_closed_and_deaf(alice, bob, room["id"])


async def test_a_password_change_closes_the_socket(pair, stack):
    alice, bob, room = pair
    change_user(stack, alice.username, "user.set_password('another-long-passphrase'); user.save()")
    await assert_closed_and_deaf(alice, bob, room["id"])


async def test_an_unrelated_change_keeps_the_socket(pair, stack):
    alice, bob, room = pair
    change_user(stack, alice.username, "user.first_name = 'Alice'; user.save()")
    await bob.send_message(room["id"], "still there?")
    frame = await alice.next_frame("message.new", timeout=30)
    assert frame["message"]["body"] == "still there?"
