"""The message history against the real MongoDB (or FerretDB) that `make test` starts."""

import uuid
from datetime import UTC, datetime

import pytest

from chat import repository
from echostream.core import mongo

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def room_id():
    await repository.ensure_indexes()
    yield f"room-{uuid.uuid4().hex[:8]}"
    await mongo.close()


def document(room_id: str, message_id: str, seq: int, body: str = "hi") -> dict:
    return {
        "_id": message_id,
        "room": room_id,
        "seq": seq,
        "sender": "alice",
        "sender_id": "1",
        "body": body,
        "client_id": f"c-{message_id}",
        "attachments": [],
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "edited_at": None,
        "deleted": False,
        "moderation": None,
        "version_seq": seq,
    }


async def test_a_new_message_is_stored_once(room_id):
    assert await repository.store_new(document(room_id, f"{room_id}-a", 0)) is repository.Stored.NEW
    assert await repository.get(f"{room_id}-a") == document(room_id, f"{room_id}-a", 0)


async def test_the_same_event_stored_again_is_a_replay_and_changes_nothing(room_id):
    await repository.store_new(document(room_id, f"{room_id}-a", 0, "original"))
    assert await repository.store_new(document(room_id, f"{room_id}-a", 0, "original")) is repository.Stored.REPLAYED
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [d["body"] for d in documents] == ["original"]


async def test_the_same_message_id_at_another_seq_is_a_duplicate(room_id):
    await repository.store_new(document(room_id, f"{room_id}-a", 0))
    assert await repository.store_new(document(room_id, f"{room_id}-a", 5)) is repository.Stored.DUPLICATE
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [d["seq"] for d in documents] == [0]


async def test_pages_are_oldest_first_and_say_whether_more_exist(room_id):
    for seq in range(6):
        await repository.store_new(document(room_id, f"{room_id}-{seq}", seq * 2))
    newest, more_before = await repository.page(room_id=room_id, before=None, after=None, limit=2)
    middle, more_middle = await repository.page(room_id=room_id, before=8, after=None, limit=2)
    first, more_first = await repository.page(room_id=room_id, before=4, after=None, limit=5)
    later, more_later = await repository.page(room_id=room_id, before=None, after=2, limit=3)
    assert ([d["seq"] for d in newest], more_before) == ([8, 10], True)
    assert ([d["seq"] for d in middle], more_middle) == ([4, 6], True)
    assert ([d["seq"] for d in first], more_first) == ([0, 2], False)
    assert ([d["seq"] for d in later], more_later) == ([4, 6, 8], True)


async def test_another_message_in_a_taken_seq_slot_is_refused(room_id):
    await repository.store_new(document(room_id, f"{room_id}-a", 0))
    assert await repository.store_new(document(room_id, f"{room_id}-b", 0)) is repository.Stored.SEQ_TAKEN
    assert await repository.get(f"{room_id}-b") is None


async def test_an_older_version_never_replaces_a_newer_one(room_id):
    # A rebuild (or a second bridge during a rebalance) may write after the live bridge moved on.
    await repository.store_new(document(room_id, f"{room_id}-a", 0))
    newer = {**document(room_id, f"{room_id}-a", 0, "fifth"), "version_seq": 5}
    older = {**document(room_id, f"{room_id}-a", 0, "third"), "version_seq": 3}
    assert await repository.replace_if_newer(newer) is True
    assert await repository.replace_if_newer(older) is False
    stored = await repository.get(f"{room_id}-a")
    assert (stored["version_seq"], stored["body"]) == (5, "fifth")


async def test_many_stored_at_once_say_what_became_of_each(room_id):
    await repository.store_new(document(room_id, f"{room_id}-a", 0))
    outcomes = await repository.store_many(
        [
            document(room_id, f"{room_id}-a", 0),  # the same event again
            document(room_id, f"{room_id}-b", 1),
            document(room_id, f"{room_id}-a", 2),  # another event with a stored id
            document(room_id, f"{room_id}-c", 1),  # another message in a taken slot
            document(room_id, f"{room_id}-d", 3),
        ]
    )
    assert outcomes == [
        repository.Stored.REPLAYED,
        repository.Stored.NEW,
        repository.Stored.DUPLICATE,
        repository.Stored.SEQ_TAKEN,
        repository.Stored.NEW,
    ]
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [(d["seq"], d["_id"]) for d in documents] == [(0, f"{room_id}-a"), (1, f"{room_id}-b"), (3, f"{room_id}-d")]


async def test_messages_stored_before_seq_entries_are_found_once_indexes_are_ensured(room_id):
    # A store from before reads went through the seq entries: messages alone, no marker.
    await mongo.collection(repository.MESSAGES).insert_one(document(room_id, f"{room_id}-old", 0))
    await mongo.collection(repository.SEQS).delete_one({"_id": repository.ENTRIES_MADE})
    await repository.ensure_indexes()
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [d["_id"] for d in documents] == [f"{room_id}-old"]


async def test_a_head_left_behind_by_a_lost_update_is_probed_past(room_id):
    for seq in range(3):
        await repository.store_new(document(room_id, f"{room_id}-{seq}", seq))
    # FerretDB applies an update as a read and a write: a concurrent `$max` may be lost.
    await mongo.collection(repository.SEQS).update_one({"_id": f"{room_id}:head"}, {"$set": {"seq": 0}})
    documents, _ = await repository.page(room_id=room_id, before=None, after=None, limit=10)
    assert [d["seq"] for d in documents] == [0, 1, 2]


async def test_changes_and_unread_counts_come_from_the_entries_after_a_seq(room_id):
    for seq in range(4):
        await repository.store_new({**document(room_id, f"{room_id}-{seq}", seq), "sender_id": str(seq % 2)})
    edited = {**document(room_id, f"{room_id}-0", 0, "edited"), "sender_id": "0", "version_seq": 4}
    assert await repository.replace_if_newer(edited) is True
    changed = await repository.changed_after(room_id=room_id, seq=2)
    assert [(d["seq"], d["body"]) for d in changed] == [(0, "edited"), (3, "hi")]
    assert await repository.count_after(room_id=room_id, seq=0, exclude_sender_id="1") == 1
    assert (await repository.newest([room_id, "no-such-room"]))[room_id]["seq"] == 3


async def test_messages_of_several_rooms_stored_at_once_move_each_room_s_newest(room_id):
    other = f"{room_id}-other"
    stored = [
        document(room_id, f"{room_id}-a", 3),
        document(other, f"{other}-a", 7),
        document(room_id, f"{room_id}-b", 4),
    ]
    assert await repository.store_many(stored) == [repository.Stored.NEW] * 3
    newest = await repository.newest([room_id, other])
    assert {room: message["seq"] for room, message in newest.items()} == {room_id: 4, other: 7}


async def test_an_edit_finds_the_version_it_replaces_in_the_index_not_by_reading_every_message(room_id):
    await repository.store_new(document(room_id, f"{room_id}-a", 0))
    edited = {**document(room_id, f"{room_id}-a", 0, "edited"), "version_seq": 4}
    assert not mongo.reads_every_document(repository.MESSAGES, repository.older_than(edited), timeout=5)
    # What a filter without `_id` costs, so that the answer above is the index's.
    assert mongo.reads_every_document(repository.MESSAGES, {"body": "edited"}, timeout=5)


async def test_deleting_a_room_forgets_its_history_and_leaves_other_rooms(room_id):
    other = f"{room_id}-other"
    await repository.store_many([document(room_id, f"{room_id}-{seq}", seq) for seq in range(3)])
    await repository.store_new(document(other, f"{other}-a", 0))
    await repository.replace_if_newer({**document(room_id, f"{room_id}-0", 0, "edited"), "version_seq": 3})
    await repository.delete_room(room_id)
    assert [await repository.get(f"{room_id}-{seq}") for seq in range(3)] == [None, None, None]
    assert await mongo.collection(repository.SEQS).count_documents({"room": room_id}) == 0
    assert await repository.page(room_id=room_id, before=None, after=None, limit=10) == ([], False)
    assert [d["_id"] for d in (await repository.page(room_id=other, before=None, after=None, limit=10))[0]] == [
        f"{other}-a"
    ]
    # Its seqs are free again, as for a room rebuilt from a re-created topic.
    assert await repository.store_new(document(room_id, f"{room_id}-new", 0)) is repository.Stored.NEW
