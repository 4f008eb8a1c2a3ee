"""Bad input over the socket and the history endpoint: a clear answer, nothing changed, socket kept."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.system.client import ChatClient
from tests.system.inspect import stored_messages

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


@pytest.fixture
async def pair(clients):
    return await clients("alice"), await clients("bob")


async def assert_socket_still_answers(client: ChatClient) -> None:
    await client.send_frame({"type": "ping"})
    assert await client.next_frame("pong") == {"type": "pong"}


async def test_a_frame_that_is_not_json_gets_error_and_the_socket_stays_open(pair):
    alice, _ = pair
    await alice.send_frame("this is {not json")
    frame = await alice.next_frame("error")
    assert frame["type"] == "error" and frame["code"] == "invalid_json"
    await assert_socket_still_answers(alice)


async def test_an_unknown_frame_type_gets_error(pair):
    alice, _ = pair
    await alice.send_frame({"type": "message.explode"})
    frame = await alice.next_frame("error")
    assert frame["type"] == "error" and frame["code"] == "unknown_type"
    await assert_socket_still_answers(alice)


async def test_a_send_with_a_malformed_field_is_rejected_as_invalid(pair):
    alice, bob = pair
    room = await alice.open_dm(bob.username)
    await alice.send_frame({"type": "message.send", "room": room["id"], "client_id": "c1", "body": 42})
    frame = await alice.next_frame("message.rejected")
    assert (frame["type"], frame["reason"], frame["client_id"]) == ("message.rejected", "invalid", "c1")
    assert await stored_messages(room["id"]) == []


async def test_a_send_to_a_room_the_user_is_not_in_is_forbidden_and_reveals_nothing(pair, stack):
    alice, bob = pair
    carol = ChatClient(stack.base_url)
    await carol.signup(f"carol{uuid.uuid4().hex[:8]}")
    private = await bob.open_dm(carol.username)
    for room_id in (private["id"], "no-such-room"):
        await alice.send_message(room_id, "let me in", client_id=f"x-{room_id}")
        frame = await alice.next_frame("message.rejected")
        assert frame == {
            "type": "message.rejected",
            "client_id": f"x-{room_id}",
            "room": room_id,
            "reason": "forbidden",
            "detail": "You are not a member of that room.",
        }
    assert await stored_messages(private["id"]) == []
    await carol.close()


async def test_an_oversized_frame_is_refused_as_too_large(pair):
    alice, bob = pair
    room = await alice.open_dm(bob.username)
    await alice.send_message(room["id"], "x" * 100_000, client_id="big")
    frame = await alice.next_frame("message.rejected")
    assert (frame["type"], frame["reason"], frame["client_id"]) == ("message.rejected", "too_large", "big")
    await assert_socket_still_answers(alice)


async def test_a_body_over_the_message_limit_is_refused_as_too_large(pair):
    alice, bob = pair
    room = await alice.open_dm(bob.username)
    await alice.send_message(room["id"], "y" * 4001, client_id="long")
    frame = await alice.next_frame("message.rejected")
    assert (frame["type"], frame["reason"]) == ("message.rejected", "too_large")
    assert await stored_messages(room["id"]) == []


async def test_a_frame_over_the_servers_hard_limit_closes_the_socket_with_1009(pair):
    alice, _ = pair
    # The server may close before it has read the whole frame: then the send itself fails.
    with contextlib.suppress(ConnectionClosed):
        await alice.send_frame(json.dumps({"type": "ping", "pad": "z" * (2 * 1024 * 1024)}))
    assert await alice.close_code() == 1009


async def test_a_socket_without_a_session_is_closed_with_4401(stack):
    anonymous = ChatClient(stack.base_url)
    await anonymous.connect(with_session=False)
    assert await anonymous.close_code() == 4401
    await anonymous.close()


async def test_a_user_s_socket_past_the_most_is_closed_with_4429_and_others_are_not(pair, stack):
    alice, bob = pair
    # WEBSOCKET_MAX_SOCKETS_PER_USER is 20 by default; alice has one open already.
    tabs = [ChatClient(stack.base_url) for _ in range(20)]
    for tab in tabs:
        tab.http.cookies = alice.http.cookies
        await tab.connect(resume=False)
    for tab in tabs[:-1]:
        await assert_socket_still_answers(tab)
    assert await tabs[-1].close_code() == 4429
    await assert_socket_still_answers(bob)

    await tabs[0].close()
    again = await a_socket_once_a_slot_is_free(alice, stack)
    await assert_socket_still_answers(again)
    for client in [*tabs[1:], again]:
        await client.close()


async def a_socket_once_a_slot_is_free(user: ChatClient, stack, timeout: float = 30) -> ChatClient:
    """A new socket of the user, tried until one is not refused with 4429: the server frees a
    closed socket's slot a moment after the close handshake."""
    async with asyncio.timeout(timeout):
        while True:
            again = ChatClient(stack.base_url)
            again.http.cookies = user.http.cookies
            await again.connect(resume=False)
            with contextlib.suppress(ConnectionClosed):
                await again.send_frame({"type": "ping"})
            try:
                await again.next_frame("pong", timeout=5)
                return again
            except TimeoutError:
                # No pong: the socket was closed, as one too many.
                assert again.socket.close_code == 4429
            await again.close()
            await asyncio.sleep(0.1)


async def test_a_socket_from_a_foreign_origin_is_refused(pair, stack):
    alice, _ = pair
    intruder = ChatClient(stack.base_url)
    intruder.http.cookies = alice.http.cookies
    with pytest.raises(InvalidStatus) as refused:
        await intruder.connect(origin="http://evil.example", resume=False)
    assert refused.value.response.status_code == 403
    await intruder.close()


async def test_a_socket_from_another_port_of_the_same_host_is_refused(pair, stack):
    alice, _ = pair
    intruder = ChatClient(stack.base_url)
    intruder.http.cookies = alice.http.cookies
    # 8000 and 8001 are trusted by default (CSRF_TRUSTED_ORIGINS); any other port is another site.
    other_port = next(port for port in (8002, 8003) if port != stack.port)
    with pytest.raises(InvalidStatus) as refused:
        await intruder.connect(origin=f"http://127.0.0.1:{other_port}", resume=False)
    assert refused.value.response.status_code == 403
    await intruder.close()


async def test_a_socket_from_the_sites_own_origin_is_accepted(pair, stack):
    alice, _ = pair
    again = ChatClient(stack.base_url)
    again.http.cookies = alice.http.cookies
    await again.connect(origin=f"http://127.0.0.1:{stack.port}")
    await assert_socket_still_answers(again)
    await again.close()


async def test_history_of_a_room_the_user_is_not_in_is_not_found(pair, stack):
    alice, bob = pair
    room = await alice.open_dm(bob.username)
    stranger = ChatClient(stack.base_url)
    await stranger.signup(f"stranger{uuid.uuid4().hex[:8]}")
    response = await stranger.history(room["id"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    signed_out = ChatClient(stack.base_url)
    assert (await signed_out.history(room["id"])).status_code == 401
    await stranger.close()
    await signed_out.close()
