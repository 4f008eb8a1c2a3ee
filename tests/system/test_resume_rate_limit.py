"""A `resume` refused with `rate_limited` is sent again after `retry_after` by the Python clients
(tests/system/client.py and the fault suite's Member), so they never wait forever for the
`resume.done` of a resume that was refused. The roles run on a stack of their own with one resume
at a time and a slow refill: a resume right after another is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.system.checker import Member
from tests.system.client import ChatClient, refused_resume
from tests.system.stack import Stack, private_stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]

# One resume, then one each 8 seconds.
ONE_RESUME_AT_A_TIME = {"RATE_LIMIT_RESUME_BURST": "1", "RATE_LIMIT_RESUME_PER_SECOND": "0.125"}


@pytest.fixture(scope="module")
def stack(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own roles, with the tight resume limit."""
    yield from private_stack(Path(tmp_path_factory.mktemp("stack-resume-limit")), "resumelimit", **ONE_RESUME_AT_A_TIME)


class LosingClient(ChatClient):
    """A client whose socket loses the live frames of some bodies on the way (once each), as an
    overloaded fan-out may: the next frame shows the gap, and the client resumes the room."""

    def __init__(self, base_url: str, lose: set[str]) -> None:
        super().__init__(base_url)
        self.lose = set(lose)

    async def _follow(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message.new" and frame["message"]["body"] in self.lose:
            self.lose.discard(frame["message"]["body"])
            return
        await super()._follow(frame)


async def resumes_refused_for_a_while(client: ChatClient, *, seconds: float = 5) -> None:
    """Sends bare resumes until one is refused for at least `seconds`: a resume of that user sent
    within that time is refused too."""
    while True:
        await client.send_frame({"type": "resume", "rooms": {}})
        answer = await client.next_frame("resume.done", "message.rejected", timeout=30)
        if refused_resume(answer):
            if answer["retry_after"] >= seconds:
                return
            await asyncio.sleep(answer["retry_after"])


async def test_a_refused_resume_is_sent_again_and_ends_with_resume_done(clients):
    alice, bob = await clients("alice"), await clients("bob")
    room = (await alice.create_group("limited", [bob.username]))["id"]
    await alice.send_message(room, "hello")
    seq = (await bob.next_frame("message.new", timeout=30))["seq"]

    await resumes_refused_for_a_while(bob)
    refused = bob.resumes_refused
    await bob.follow({room: -1})

    assert bob.resumes_refused > refused
    assert bob.rooms.cursors[room] == seq
    assert bob.rooms.applied[room][-1]["message"]["body"] == "hello"


async def test_the_resume_of_a_gap_is_sent_again_when_refused(clients, stack):
    alice = await clients("alice")
    bob = LosingClient(stack.base_url, lose={"lost"})
    try:
        await bob.signup(f"bob{alice.username}")
        room = (await alice.create_group("gap", [bob.username]))["id"]
        await bob.connect()
        await bob.follow({room: -1})
        await alice.send_message(room, "before")
        await bob.next_frame("message.new", timeout=30)

        await resumes_refused_for_a_while(bob)
        for body in ("lost", "after"):
            await alice.send_message(room, body)
        last = (await alice.collect("message.new", 3, timeout=30))[-1]["seq"]

        # "after" shows that "lost" was lost; the resume for it is refused at first, then sent again.
        frames, done = await bob.until("resume.done", timeout=60)
        assert any(refused_resume(frame) for frame in frames)
        assert done["rooms"] == {room: last}
        assert [frame["message"]["body"] for frame in bob.rooms.applied[room]] == ["before", "lost", "after"]
        assert bob.rooms.cursors[room] == last
    finally:
        await bob.close()


async def test_the_fault_suites_member_sends_a_refused_opening_resume_again(clients, stack):
    alice = await clients("alice")
    room = (await alice.create_group("member", []))["id"]
    chat = ChatClient(stack.base_url)
    chat.http.cookies = alice.http.cookies  # the same user, so the same resume limit
    member = Member(chat, [room])
    await resumes_refused_for_a_while(alice)
    member.start()
    try:
        await asyncio.wait_for(member.ready.wait(), 60)
        assert member.resumes_refused >= 1
    finally:
        await member.close()
