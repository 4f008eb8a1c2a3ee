"""The fault suite's checker finds what it is there to find (pure logic: frames and documents are
made up here, nothing runs)."""

from __future__ import annotations

from tests.system.checker import ACK, Attempt, Member, Try, Workload, judge
from tests.system.client import ChatClient


def member(rooms):
    return Member(ChatClient("http://127.0.0.1:9"), rooms)


def new(room, seq, client_id):
    return {
        "type": "message.new",
        "message": {"id": f"m-{client_id}", "room": room, "seq": seq, "client_id": client_id},
    }


def two_members_one_message(shown_by_bob=True):
    alice, bob = member(["r"]), member(["r"])
    workload = Workload({"alice": alice, "bob": bob}, {"r": ["alice", "bob"]})
    workload.attempts["c1"] = Attempt(room="r", body="hi", tries=[Try(0.5, ACK, 1.0)], acked_at=1.0)
    alice.handle(new("r", 0, "c1"))
    if shown_by_bob:
        bob.handle(new("r", 0, "c1"))
    return workload, alice, bob


def test_a_message_stored_and_shown_once_to_everyone_is_neither_lost_nor_duplicated():
    workload, _, _ = two_members_one_message()

    verdict = judge("f", workload, {"r": [{"client_id": "c1"}]}, 1.0)

    assert (verdict.acknowledged, verdict.lost, verdict.duplicated) == (1, 0, 0)


def test_an_acknowledged_message_missing_from_mongodb_is_lost():
    workload, _, _ = two_members_one_message()

    verdict = judge("f", workload, {"r": []}, None)

    assert verdict.lost_from_store == ["c1"]
    assert verdict.lost == 1


def test_an_acknowledged_message_one_member_never_saw_is_lost():
    workload, _, _ = two_members_one_message(shown_by_bob=False)

    verdict = judge("f", workload, {"r": [{"client_id": "c1"}]}, None)

    assert verdict.lost_from_clients == {"bob": ["c1"]}


def test_a_send_never_acknowledged_is_not_counted_whether_stored_or_not():
    workload, _, _ = two_members_one_message()
    workload.attempts["c2"] = Attempt(
        room="r", body="maybe", tries=[Try(1, "error:unavailable", 11), Try(12, "dropped", 13)]
    )

    verdict = judge("f", workload, {"r": [{"client_id": "c1"}]}, None)

    assert (verdict.acknowledged, verdict.lost, verdict.unavailable) == (1, 0, 1)


def test_a_message_shown_again_after_a_resume_is_duplicated():
    workload, _, bob = two_members_one_message()
    bob.handle(new("r", 0, "c1"))

    verdict = judge("f", workload, {"r": [{"client_id": "c1"}]}, None)

    assert verdict.shown_twice == {"bob": ["m-c1"]}


def test_a_client_id_stored_twice_is_duplicated():
    workload, _, _ = two_members_one_message()

    verdict = judge("f", workload, {"r": [{"client_id": "c1"}, {"client_id": "c1"}]}, None)

    assert verdict.stored_twice == ["c1"]


def test_frames_shown_out_of_seq_order_are_reported():
    workload, alice, _ = two_members_one_message()
    alice.shown["r"].insert(0, {"id": "m-late", "room": "r", "seq": 5})

    assert judge("f", workload, {"r": [{"client_id": "c1"}]}, None).out_of_order == {"alice": ["r"]}


def test_without_prev_seq_the_cursor_is_the_highest_seq_shown():
    alice = member(["r", "s"])
    alice.handle(new("r", 7, "a"))
    alice.handle({"type": "message.updated", "message": {"id": "m-a", "room": "r", "seq": 7}, "seq": 9})
    alice.handle(new("r", 8, "b"))

    assert alice.cursors == {"r": 9, "s": -1}


def test_a_frame_after_a_gap_is_not_shown_and_the_room_resumes_from_its_cursor_once():
    alice = member(["r"])
    alice.handle({**new("r", 0, "a"), "seq": 0, "prev_seq": None})

    assert alice.handle({**new("r", 2, "c"), "seq": 2, "prev_seq": 1}) == {"r": 0}
    assert alice.handle({**new("r", 3, "d"), "seq": 3, "prev_seq": 2}) is None
    assert [m["client_id"] for m in alice.shown["r"]] == ["a"]

    for seq, client_id in ((1, "b"), (2, "c"), (3, "d")):
        alice.handle({**new("r", seq, client_id), "seq": seq, "prev_seq": seq - 1})
    alice.handle({"type": "resume.done", "rooms": {"r": 3}, "reload": []})

    assert [m["client_id"] for m in alice.shown["r"]] == ["a", "b", "c", "d"]
    assert alice.cursors["r"] == 3


def test_a_room_head_beyond_the_cursor_resumes_the_room():
    alice = member(["r"])
    alice.handle({**new("r", 0, "a"), "seq": 0, "prev_seq": None})

    assert alice.handle({"type": "room.head", "room": "r", "seq": 4}) == {"r": 0}
    assert alice.handle({"type": "room.head", "room": "r", "seq": 0}) is None


def test_an_ack_to_a_send_made_while_kafka_was_away_is_found():
    workload, _, _ = two_members_one_message()
    workload.attempts["c2"] = Attempt(room="r", body="x", tries=[Try(2.0, ACK, 2.5)], acked_at=2.5)

    assert workload.acked_between(1.5, 3.0) == ["c2"]
    assert workload.acked_between(0.0, 0.9) == []


def test_a_replayed_copy_of_what_came_live_after_the_resume_was_sent_is_dropped_not_counted():
    alice = member(["r"])
    alice.handle({**new("r", 0, "a"), "seq": 0, "prev_seq": None})
    assert alice.handle({**new("r", 2, "c"), "seq": 2, "prev_seq": 1}) == {"r": 0}
    # 1 was late, not lost: it and 2 come live after the resume from 0 went out...
    alice.handle({**new("r", 1, "b"), "seq": 1, "prev_seq": 0})
    alice.handle({**new("r", 2, "c"), "seq": 2, "prev_seq": 1})
    # ...and the replay of everything after 0 brings them again: copies the rule drops.
    alice.handle({**new("r", 1, "b"), "seq": 1, "prev_seq": 0})
    alice.handle({**new("r", 2, "c"), "seq": 2, "prev_seq": 1})
    alice.handle({"type": "resume.done", "rooms": {"r": 2}, "reload": []})

    assert [m["client_id"] for m in alice.shown["r"]] == ["a", "b", "c"]
    # With no resume under way, a copy is a duplicate again.
    alice.handle({**new("r", 2, "c"), "seq": 2, "prev_seq": 1})
    assert [m["client_id"] for m in alice.shown["r"]] == ["a", "b", "c", "c"]


def test_a_replayed_copy_at_or_below_the_cursor_the_resume_was_sent_from_is_counted():
    alice = member(["r"])
    alice.handle({**new("r", 0, "a"), "seq": 0, "prev_seq": None})
    alice.handle({**new("r", 1, "b"), "seq": 1, "prev_seq": 0})
    assert alice.handle({"type": "room.head", "room": "r", "seq": 4}) == {"r": 1}
    alice.handle({**new("r", 1, "b"), "seq": 1, "prev_seq": 0})  # the server replayed what the client said it had

    assert [m["client_id"] for m in alice.shown["r"]] == ["a", "b", "b"]
