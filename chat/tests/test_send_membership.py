"""Sends, edits and deletes over an in-process socket (the real consumer, Redis channel layer,
Kafka): membership of a room the socket knows costs no query; a change of membership reaches
the socket's known rooms; a room it does not know yet is asked of the database once, then known."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db.backends.utils import CursorWrapper

from chat import services
from chat.models import Membership, Room
from echostream.core import groups, kafka
from tests.inprocess import Socket, in_group

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
def membership_queries(monkeypatch) -> list[tuple[str, Any]]:
    """Every query of the membership table, from any thread (the async ORM queries from asgiref's
    thread, where a connection's own query log would not see them), as (sql, params)."""
    seen: list[tuple[str, Any]] = []
    execute = CursorWrapper._execute

    def counting(self, sql, params, *rest):
        if Membership._meta.db_table in sql:
            seen.append((sql, params))
        return execute(self, sql, params, *rest)

    monkeypatch.setattr(CursorWrapper, "_execute", counting)
    return seen


def about(queries: list[tuple[str, Any]], room_id: str) -> list[str]:
    """The queries that asked about this room (presence's sweeps and heartbeats may ask about
    others' rooms meanwhile)."""
    return [sql for sql, params in queries if room_id in (params or ())]


async def next_of(socket: Socket, *types: str) -> dict[str, Any]:
    """The socket's next frame of one of these types (presence and the like are passed over)."""
    while True:
        frame = await socket.answer()
        if frame["type"] in types:
            return frame


def send(room_id: str, client_id: str) -> dict[str, Any]:
    return {"type": "message.send", "room": room_id, "client_id": client_id, "body": "hi"}


@pytest.fixture
async def inbound() -> None:
    await sync_to_async(kafka.ensure_inbound_topic)()


@pytest.mark.usefixtures("inbound")
async def test_a_member_s_sends_edits_and_deletes_ask_no_database_about_membership(
    make_user, open_socket, membership_queries
):
    user, other = await make_user(), await make_user()
    room, _ = await sync_to_async(services.do_open_dm)(user=user, other_username=other.username)
    socket = await open_socket(user)
    membership_queries.clear()

    for client_id in ("c1", "c2"):
        await socket.send_frame(send(room.id, client_id))
        ack = await next_of(socket, "message.ack", "message.rejected", "error")
        assert (ack["type"], ack["client_id"]) == ("message.ack", client_id)
    # A message no one sent: refused for that, after the membership check passed.
    for change in ({"type": "message.edit", "body": "changed"}, {"type": "message.delete"}):
        await socket.send_frame({**change, "room": room.id, "id": "m-unknown"})
        refused = await next_of(socket, "message.rejected", "error")
        assert (refused["type"], refused["reason"]) == ("message.rejected", "invalid")

    assert about(membership_queries, room.id) == []


@pytest.mark.usefixtures("inbound")
async def test_a_removed_member_s_next_send_is_forbidden_once_the_socket_heard_of_it(make_user, open_socket):
    admin, member = await make_user(), await make_user()
    room = await sync_to_async(services.do_create_group)(
        creator=admin, name="g", member_usernames=[member.get_username()]
    )
    socket = await open_socket(member)
    await socket.send_frame(send(room.id, "before"))
    assert (await next_of(socket, "message.ack", "message.rejected", "error"))["type"] == "message.ack"

    await sync_to_async(services.do_remove_member)(actor=admin, room=room, username=member.get_username())
    assert await next_of(socket, "room.left") == {"type": "room.left", "room": room.id}

    await socket.send_frame(send(room.id, "after"))
    refused = await next_of(socket, "message.ack", "message.rejected", "error")
    assert (refused["type"], refused["reason"], refused["client_id"]) == ("message.rejected", "forbidden", "after")


@pytest.mark.usefixtures("inbound")
async def test_a_room_the_socket_does_not_know_yet_is_asked_once_then_known(make_user, open_socket, membership_queries):
    socket = await open_socket()
    # Made without its announcement: as for a room whose `room.joined` is still on its way.
    room = await Room.objects.acreate(name="new")
    await Membership.objects.acreate(room=room, user=socket.user)
    membership_queries.clear()

    await socket.send_frame(send(room.id, "first"))
    ack = await next_of(socket, "message.ack", "message.rejected", "error")
    assert (ack["type"], ack["client_id"]) == ("message.ack", "first")
    assert len(about(membership_queries, room.id)) == 1
    assert socket.consumer.member_of(room.id)
    assert await in_group(groups.room_group(room.id), socket.consumer.channel_name)

    await socket.send_frame(send(room.id, "second"))
    ack = await next_of(socket, "message.ack", "message.rejected", "error")
    assert (ack["type"], ack["client_id"]) == ("message.ack", "second")
    assert len(about(membership_queries, room.id)) == 1


async def test_a_stranger_s_send_is_forbidden_and_leaves_the_socket_s_rooms_as_they_were(make_user, open_socket):
    socket = await open_socket()
    room = await Room.objects.acreate(name="theirs")
    await Membership.objects.acreate(room=room, user=await make_user())

    await socket.send_frame(send(room.id, "c1"))
    refused = await next_of(socket, "message.ack", "message.rejected", "error")
    assert (refused["type"], refused["reason"]) == ("message.rejected", "forbidden")
    assert not socket.consumer.member_of(room.id)
    assert not await in_group(groups.room_group(room.id), socket.consumer.channel_name)


async def test_typing_and_resume_of_a_known_room_ask_no_database_about_membership(
    make_user, open_socket, membership_queries
):
    user, other = await make_user(), await make_user()
    room, _ = await sync_to_async(services.do_open_dm)(user=user, other_username=other.username)
    await sync_to_async(kafka.ensure_room_topic)(room.id)
    socket = await open_socket(user)
    membership_queries.clear()

    await socket.send_frame({"type": "typing", "room": room.id, "state": True})
    await socket.send_frame({"type": "resume", "rooms": {room.id: -1}})
    done = await next_of(socket, "resume.done", "message.rejected", "error")
    assert done["type"] == "resume.done" and room.id in done["rooms"]

    assert about(membership_queries, room.id) == []


async def test_typing_receipts_and_resume_of_a_strangers_room_are_refused(make_user, open_socket):
    user, one, two = await make_user(), await make_user(), await make_user()
    room, _ = await sync_to_async(services.do_open_dm)(user=one, other_username=two.username)
    socket = await open_socket(user)

    for frame in (
        {"type": "typing", "room": room.id, "state": True},
        {"type": "receipt", "room": room.id, "seq": 0, "kind": "read"},
        {"type": "resume", "rooms": {room.id: -1}},
    ):
        await socket.send_frame(frame)
        refused = await next_of(socket, "message.rejected", "error")
        assert (refused["type"], refused["reason"], refused["room"]) == ("message.rejected", "forbidden", room.id)


@pytest.mark.parametrize(
    "frame",
    [
        send("\x00", "nul"),
        {"type": "message.edit", "room": "\x00", "id": "0" * 32, "body": "x"},
        {"type": "message.delete", "room": "\x00", "id": "0" * 32},
        {"type": "typing", "room": "\x00", "state": True},
        {"type": "receipt", "room": "\x00", "seq": 0, "kind": "read"},
        {"type": "resume", "rooms": {"\x00": -1}},
    ],
    ids=["send", "edit", "delete", "typing", "receipt", "resume"],
)
async def test_a_room_id_that_cannot_be_one_is_forbidden_like_a_strangers_room(open_socket, frame):
    socket = await open_socket()

    await socket.send_frame(frame)
    refused = await next_of(socket, "message.ack", "message.rejected", "error")
    assert (refused["type"], refused["reason"], refused["room"]) == ("message.rejected", "forbidden", "\x00")
    await socket.send_frame({"type": "ping"})
    assert (await next_of(socket, "pong", "error"))["type"] == "pong"
