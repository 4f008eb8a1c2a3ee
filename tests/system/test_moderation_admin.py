"""A moderator acts in the Django admin of the running stack (the web role, over HTTP), and the
members' open sockets see it: a delete reaches every member as `message.updated`, deleted."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.system.client import ChatClient
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


def make_superuser(stack: Stack, username: str) -> None:
    """Staff (a moderator) with every permission, in the stack's database."""
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.filter(username={username!r}).update(is_staff=True, is_superuser=True)",
    )


async def admin_form_token(client: ChatClient, path: str) -> str:
    page = await client.http.get(path)
    assert page.status_code == 200, page.text[:500]
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, "the admin page has no CSRF-protected form"
    return match.group(1)


@pytest.fixture
async def people(stack: Stack):
    made = [ChatClient(stack.base_url) for _ in range(3)]
    for client, name in zip(made, ("alice", "bob", "mod"), strict=True):
        await client.signup(f"{name}{uuid.uuid4().hex[:8]}")
    alice, bob, moderator = made
    for client in (alice, bob):
        await client.connect()
    make_superuser(stack, moderator.username)
    yield alice, bob, moderator
    for client in made:
        await client.close()


async def test_a_moderator_s_delete_in_the_admin_reaches_every_open_client(people):
    alice, bob, moderator = people
    room = await alice.create_group("moderated", [bob.username])
    await bob.send_message(room["id"], "something rude")
    message = (await alice.next_frame("message.new"))["message"]
    await bob.next_frame("message.new")

    # The moderator's session (signed in through the API) is a staff session: the admin opens.
    path = f"/admin/chat/room/{room['id']}/messages/"
    token = await admin_form_token(moderator, path)
    answer = await moderator.http.post(
        path, data={"csrfmiddlewaretoken": token, "message_id": message["id"], "reason": "insult"}
    )
    assert answer.status_code == 302, answer.text[:500]

    for member in (alice, bob):
        frame = await member.next_frame("message.updated", timeout=20)
        assert frame["message"]["id"] == message["id"]
        assert (frame["message"]["deleted"], frame["message"]["body"]) == (True, "")
    (stored,) = (await alice.history(room["id"])).json()["messages"]
    assert (stored["id"], stored["deleted"]) == (message["id"], True)


async def test_a_member_reports_a_message_and_the_moderator_sees_it_queued(people):
    alice, bob, moderator = people
    room = await alice.create_group("reported", [bob.username])
    await bob.send_message(room["id"], "spam spam spam")
    message = (await alice.next_frame("message.new"))["message"]

    answer = await alice.post(f"/api/rooms/{room['id']}/messages/{message['id']}/report/", {"reason": "spam"})
    assert answer.status_code == 201, answer.text
    queue = await moderator.http.get("/admin/moderation/report/?status__exact=open")
    assert queue.status_code == 200 and "spam spam spam" in queue.text
