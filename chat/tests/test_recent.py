"""The cache of each room's newest messages, against the real Redis."""

import uuid
from datetime import UTC, datetime

import pytest

from chat import recent
from echostream.core import redis

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def room_id(settings):
    settings.HISTORY_CACHE_SIZE = 5
    yield f"room-{uuid.uuid4().hex[:8]}"
    await redis.client().aclose()


def message(room_id: str, seq: int, body: str = "", version: int | None = None) -> dict:
    return {
        "_id": f"{room_id}-{seq}",
        "room": room_id,
        "seq": seq,
        "sender": "alice",
        "sender_id": "1",
        "body": body or f"m{seq}",
        "client_id": f"c{seq}",
        "attachments": [],
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "edited_at": None,
        "deleted": False,
        "moderation": None,
        "version_seq": seq if version is None else version,
    }


def bodies(page) -> list[str]:
    return [m["body"] for m in page[0]]


async def test_an_unfilled_room_is_not_answered(room_id):
    await recent.put(message(room_id, 0))
    assert await recent.page(room_id=room_id, before=None, limit=2) is None


async def test_a_whole_short_history_is_answered_with_no_more_before_it(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, s) for s in (0, 1, 2)], complete=True)
    page = await recent.page(room_id=room_id, before=None, limit=2)
    assert (bodies(page), page[1]) == (["m1", "m2"], True)
    page = await recent.page(room_id=room_id, before=1, limit=2)
    assert (bodies(page), page[1]) == (["m0"], False)


async def test_pages_below_the_floor_go_to_mongodb(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, s) for s in range(10, 15)], complete=False)
    page = await recent.page(room_id=room_id, before=None, limit=3)
    assert (bodies(page), page[1]) == (["m12", "m13", "m14"], True)
    assert await recent.page(room_id=room_id, before=12, limit=3) is None


async def test_new_messages_push_the_oldest_out_and_raise_the_floor(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, s) for s in range(3)], complete=True)
    for seq in range(3, 8):
        await recent.put(message(room_id, seq))
    page = await recent.page(room_id=room_id, before=None, limit=4)
    assert (bodies(page), page[1]) == (["m4", "m5", "m6", "m7"], True)
    assert await recent.page(room_id=room_id, before=4, limit=2) is None


async def test_a_newer_version_replaces_an_older_one_and_never_the_reverse(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, 0)], complete=True)
    await recent.put(message(room_id, 0, "edited", version=9))
    await recent.put(message(room_id, 0, "stale", version=4))
    assert bodies(await recent.page(room_id=room_id, before=None, limit=2)) == ["edited"]


async def test_forgetting_a_room_empties_its_cache(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, 0)], complete=True)
    await recent.forget(room_id)
    assert await recent.page(room_id=room_id, before=None, limit=2) is None


async def test_a_message_the_fan_out_cached_reads_back_as_the_whole_document(room_id):
    stored = {**message(room_id, 3, "edited"), "edited_at": datetime(2026, 1, 2, tzinfo=UTC), "edit_id": "e9"}
    await recent.put({**stored, "version_seq": 9}, live=True)
    assert await recent.live_document(room_id=room_id, message_id=f"{room_id}-3") == {**stored, "version_seq": 9}


async def test_a_message_filled_from_mongodb_is_not_taken_as_the_live_state(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, 0)], complete=True)
    assert await recent.live_document(room_id=room_id, message_id=f"{room_id}-0") is None


async def test_live_documents_reads_the_live_entries_of_many_messages_at_once(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, 0)], complete=True)
    live = {**message(room_id, 1), "edit_id": None}
    await recent.put(live, live=True)

    found = await recent.live_documents(room_id=room_id, message_ids=[f"{room_id}-0", f"{room_id}-1", "nowhere"])

    assert found == {f"{room_id}-1": live}


async def test_the_fan_out_caching_a_filled_version_again_makes_it_live(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, 0)], complete=True)
    await recent.put(message(room_id, 0), live=True)
    assert (await recent.live_document(room_id=room_id, message_id=f"{room_id}-0"))["version_seq"] == 0


async def test_a_fill_never_takes_the_live_mark_from_the_same_version(room_id):
    await recent.put(message(room_id, 0), live=True)
    await recent.fill(room_id=room_id, newest=[message(room_id, 0)], complete=True)
    assert await recent.live_document(room_id=room_id, message_id=f"{room_id}-0") is not None


async def test_unread_messages_are_counted_from_the_cache_when_it_holds_all_after_the_mark(room_id):
    theirs = [message(room_id, seq) for seq in range(4)]
    theirs[2] = {**theirs[2], "deleted": True, "body": ""}
    mine = {**message(room_id, 4), "sender_id": "me"}
    await recent.fill(room_id=room_id, newest=[*theirs, mine], complete=True)
    assert await recent.count_after(room_id=room_id, seq=0, exclude_sender_id="me") == 2


async def test_the_cache_does_not_count_what_may_lie_below_its_floor(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, seq) for seq in range(10, 14)], complete=False)
    assert await recent.count_after(room_id=room_id, seq=5, exclude_sender_id="me") is None
    assert await recent.count_after(room_id=room_id, seq=9, exclude_sender_id="me") == 4


async def test_a_page_after_a_seq_comes_from_the_cache_when_it_holds_all_after_it(room_id):
    await recent.fill(room_id=room_id, newest=[message(room_id, seq) for seq in range(10, 15)], complete=False)
    assert bodies(await recent.page_after(room_id=room_id, after=10, limit=2)) == ["m11", "m12"]
    assert (await recent.page_after(room_id=room_id, after=12, limit=5))[1] is False
    assert await recent.page_after(room_id=room_id, after=5, limit=2) is None
