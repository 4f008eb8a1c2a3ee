"""Chat's reads, against the real MongoDB and Redis."""

import uuid

import pytest

from chat import cache, projection, repository, selectors
from echostream.core import events, mongo, redis

pytestmark = pytest.mark.usefixtures("services")


async def test_the_newest_page_shows_what_the_bridge_showed_before_mongodb_has_it():
    room_id = f"r{uuid.uuid4().hex[:10]}"
    await repository.ensure_indexes()
    common = {"room": room_id, "occurred_at": events.now(), "actor": "1"}
    made = events.MessageCreated(
        id=f"{room_id}-m", seq=0, **common, data=events.CreatedData(client_id="c", body="original", sender="alice")
    )
    edit = events.MessageEdited(
        id=f"{room_id}-e", seq=1, **common, data=events.EditedData(message_id=made.id, body="edited")
    )
    try:
        for event in (made, edit):
            await projection.do_show_room_event(event=event)
        await projection.do_store_room_event(event=made)  # the store half is one event behind

        messages, has_more = await selectors.message_page(room_id=room_id, before=None, after=None, limit=20)
        assert ([m["body"] for m in messages], has_more) == (["edited"], False)
    finally:
        await mongo.close()
        await redis.client().aclose()


async def test_a_new_room_s_first_message_is_unread_before_mongodb_has_it():
    room_id = f"r{uuid.uuid4().hex[:10]}"
    first = events.MessageCreated(
        id=f"{room_id}-m", room=room_id, seq=0, occurred_at=events.now(), actor="1",
        data=events.CreatedData(client_id="c", body="hello", sender="alice"),
    )  # fmt: skip
    try:
        await projection.do_show_room_event(event=first)  # shown; the store half has not run
        last_seqs = await selectors.last_seqs([room_id])
        assert await selectors.unread_counts(user_id="2", last_seqs=last_seqs) == {room_id: 1}
    finally:
        await mongo.close()
        await redis.client().aclose()


async def test_a_page_after_a_seq_shows_what_the_bridge_showed_before_mongodb_has_it():
    room_id = f"r{uuid.uuid4().hex[:10]}"
    common = {"room": room_id, "occurred_at": events.now(), "actor": "1"}
    shown = [
        events.MessageCreated(
            id=f"{room_id}-{seq}",
            seq=seq,
            **common,
            data=events.CreatedData(client_id=f"c{seq}", body=f"m{seq}", sender="a"),
        )
        for seq in range(3)
    ]
    try:
        for event in shown:
            await projection.do_show_room_event(event=event)  # the store half has not run
        messages, has_more = await selectors.message_page(room_id=room_id, before=None, after=0, limit=5)
        assert ([m["body"] for m in messages], has_more) == (["m1", "m2"], False)
    finally:
        await mongo.close()
        await redis.client().aclose()


async def test_the_room_s_newest_seq_is_the_head_of_its_shown_chain_and_nothing_else():
    room_id = f"r{uuid.uuid4().hex[:10]}"
    common = {"room": room_id, "occurred_at": events.now(), "actor": "1"}
    try:
        for seq in (0, 4):
            await projection.do_show_room_event(
                event=events.MessageCreated(
                    id=f"{room_id}-{seq}",
                    seq=seq,
                    **common,
                    data=events.CreatedData(client_id=f"c{seq}", body="hi", sender="alice"),
                )
            )
        assert await cache.last_seqs([room_id]) == {room_id: 4}
        assert await selectors.last_seqs([room_id]) == {room_id: 4}
        # One record of it: the old hash of newest seqs is no longer written.
        assert not await redis.client().exists(redis.key("room-last-seq"))
    finally:
        await mongo.close()
        await redis.client().aclose()


async def test_the_newest_seq_read_from_mongodb_is_not_written_back():
    room_id = f"r{uuid.uuid4().hex[:10]}"
    stored = events.MessageCreated(
        id=f"{room_id}-m", room=room_id, seq=3, occurred_at=events.now(), actor="1",
        data=events.CreatedData(client_id="c", body="stored", sender="alice"),
    )  # fmt: skip
    try:
        await repository.ensure_indexes()
        await projection.do_store_room_event(event=stored)  # history has it; nothing was shown
        assert await selectors.last_seqs([room_id]) == {room_id: 3}
        # A read: neither the room's chain nor any other record of its newest seq was written.
        assert await cache.last_seqs([room_id]) == {room_id: None}
        assert not await redis.client().hexists(redis.key("room-last-seq"), room_id)
        assert await cache.swap_last_shown(room_id=room_id, seq=5) is None
    finally:
        await mongo.close()
        await redis.client().aclose()
