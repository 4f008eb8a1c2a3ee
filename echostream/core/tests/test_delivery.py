from echostream.core import wire
from echostream.core.delivery import MAX_HELD, SocketDelivery, chained


def frame(seq: int, prev: int | None = None, room: str = "r") -> dict:
    return {"type": "message.new", "seq": seq, "prev_seq": prev, "message": {"room": room, "id": f"m{seq}"}}


def message(seq: int) -> dict:
    return {
        "id": f"m{seq}", "room": "r", "seq": seq, "sender": "alice", "body": "hi",
        "created_at": "2026-11-29T00:00:00+00:00", "client_id": f"c{seq}", "attachments": [],
    }  # fmt: skip


def test_a_socket_that_will_not_resume_gets_live_frames_at_once():
    delivery = SocketDelivery(hold_until_resume=False)
    assert delivery.offer(frame(1))["seq"] == 1
    assert delivery.offer(frame(2, 1))["seq"] == 2


def test_live_frames_are_held_until_released_then_sent_in_order():
    delivery = SocketDelivery(hold_until_resume=True)
    assert delivery.offer(frame(1)) is None
    assert delivery.offer(frame(2, 1)) is None
    assert [f["seq"] for f in delivery.release()] == [1, 2]
    assert delivery.offer(frame(3, 2))["seq"] == 3


def test_a_frame_offered_while_the_held_ones_are_sent_waits_behind_them():
    delivery = SocketDelivery(hold_until_resume=True)
    delivery.offer(frame(1))
    delivery.offer(frame(2, 1))
    sent = []
    for released in delivery.release():
        sent.append(released["seq"])
        if released["seq"] == 1:
            assert delivery.offer(frame(3, 2)) is None
            assert list(delivery.release()) == []  # a second release meanwhile sends nothing
    assert sent == [1, 2, 3]
    assert delivery.offer(frame(4, 3))["seq"] == 4


def test_nothing_is_released_while_a_resume_runs():
    delivery = SocketDelivery(hold_until_resume=False)
    delivery.begin_resume()
    assert delivery.offer(frame(5)) is None
    assert list(delivery.release()) == []
    delivery.end_resume()
    assert [f["seq"] for f in delivery.release()] == [5]


def test_the_live_copy_of_a_replayed_event_is_dropped_and_later_ones_pass():
    delivery = SocketDelivery(hold_until_resume=True)
    delivery.begin_resume()
    delivery.offer(frame(7, 6))
    delivery.offer(frame(9, 7))
    delivery.replayed("r", seq=7)
    delivery.end_resume()
    assert [f["seq"] for f in delivery.release()] == [9]
    assert delivery.offer(frame(9, 7)) is None


def test_a_resume_resends_what_went_out_live_before_it():
    delivery = SocketDelivery(hold_until_resume=False)
    assert delivery.offer(frame(3, 2)) is not None
    delivery.begin_resume()
    delivery.replayed("r", seq=3)
    delivery.end_resume()
    assert list(delivery.release()) == []
    assert delivery.head("r") == 3
    assert delivery.offer(frame(4, 3))["seq"] == 4


def test_a_reloaded_room_takes_the_new_topics_seq_even_when_lower():
    delivery = SocketDelivery(hold_until_resume=False)
    delivery.offer(frame(50, 49))
    delivery.replayed("r", seq=2)
    assert delivery.offer(frame(3, 2))["seq"] == 3


def test_rooms_are_apart():
    delivery = SocketDelivery(hold_until_resume=False)
    delivery.offer(frame(8, room="a"))
    assert delivery.offer(frame(2, room="b"))["seq"] == 2


def test_the_hold_is_bounded_and_a_dropped_frame_shows_as_a_gap():
    delivery = SocketDelivery(hold_until_resume=True)
    for seq in range(MAX_HELD + 1):
        delivery.offer(frame(seq, seq - 1 if seq else None))
    delivery.offer(frame(MAX_HELD + 1, MAX_HELD))
    sent = list(delivery.release())
    assert len(sent) == MAX_HELD
    after = delivery.offer(frame(MAX_HELD + 2, MAX_HELD + 1))
    assert after["prev_seq"] > sent[-1]["seq"]


def test_chained_links_each_frame_to_the_one_before_and_the_first_to_the_cursor():
    unlinked = [wire.from_builtins({**frame(seq), "message": message(seq)}) for seq in (4, 6, 9)]
    linked = chained(unlinked, after=2)
    assert [(f.seq, f.prev_seq) for f in linked] == [(4, 2), (6, 4), (9, 6)]


def test_a_tail_is_missed_only_when_the_socket_stays_behind_across_two_looks():
    delivery = SocketDelivery(hold_until_resume=False)
    delivery.offer(frame(3, 2))
    assert delivery.missed_tails({"r": 5}) == {}
    assert delivery.missed_tails({"r": 5}) == {"r": 5}


def test_a_tail_that_arrives_or_moves_on_is_not_missed():
    delivery = SocketDelivery(hold_until_resume=False)
    delivery.offer(frame(3, 2))
    assert delivery.missed_tails({"r": 4}) == {}
    delivery.offer(frame(4, 3))
    assert delivery.missed_tails({"r": 4}) == {}
    assert delivery.missed_tails({"r": 6}) == {}
    assert delivery.missed_tails({"r": 7}) == {}


def test_rooms_never_sent_and_rooms_being_resumed_are_not_looked_at():
    delivery = SocketDelivery(hold_until_resume=False)
    assert delivery.missed_tails({"other": 9}) == {}
    assert delivery.missed_tails({"other": 9}) == {}
    delivery.offer(frame(1))
    delivery.begin_resume()
    delivery.missed_tails({"r": 5})
    assert delivery.missed_tails({"r": 5}) == {}


def test_a_resume_that_begins_while_held_frames_go_out_keeps_the_rest_for_after_its_replay():
    delivery = SocketDelivery(hold_until_resume=True)
    delivery.offer(frame(1))
    delivery.offer(frame(2, 1))
    delivery.offer(frame(3, 2))
    releasing = delivery.release()
    assert next(releasing)["seq"] == 1
    delivery.begin_resume()
    assert list(releasing) == []
    delivery.replayed("r", seq=2)
    delivery.end_resume()
    assert [f["seq"] for f in delivery.release()] == [3]
