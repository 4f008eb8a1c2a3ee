"""The typed server frames: what goes out, and what a strict client accepts."""

import msgspec
import pytest

from echostream.core import wire


def test_a_frame_is_encoded_with_its_type_and_without_its_absent_optional_fields():
    frame = wire.MessageRejected(client_id="c1", room="r", reason="forbidden", detail="no")
    assert msgspec.json.decode(wire.encode(frame)) == {
        "type": "message.rejected",
        "client_id": "c1",
        "room": "r",
        "reason": "forbidden",
        "detail": "no",
    }


def test_a_rate_limited_rejection_carries_retry_after_in_seconds():
    frame = wire.MessageRejected(client_id=None, room="r", reason="rate_limited", detail="slow", retry_after=1.5)
    assert msgspec.json.decode(wire.encode(frame))["retry_after"] == 1.5


def test_frames_cross_the_channel_layer_as_plain_data_and_back():
    frame = wire.Receipt(room="r", user="alice", seq=3, kind="read")
    data = wire.to_builtins(frame)
    assert data == {"type": "receipt", "room": "r", "user": "alice", "seq": 3, "kind": "read"}
    assert wire.from_builtins(data) == frame


def test_plain_data_that_is_no_frame_is_refused_on_the_way_out():
    with pytest.raises(msgspec.ValidationError):
        wire.from_builtins({"type": "receipt", "room": "r", "user": "alice", "seq": "3", "kind": "read"})
    with pytest.raises(msgspec.ValidationError):
        wire.from_builtins({"type": "message.explode"})


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "pong", "extra": 1}',  # an unknown field
        b'{"type": "error", "code": "x"}',  # a missing one
        b'{"type": "error", "code": "x", "detail": "d", "client_id": null}',  # null where it is left out
        b'{"type": "message.rejected", "client_id": null, "room": null, "reason": "bored", "detail": "d"}',
        b'{"type": "resume.done", "rooms": {"r": "1"}, "reload": []}',
    ],
)
def test_a_strict_reader_refuses_a_frame_outside_the_contract(raw):
    with pytest.raises(msgspec.ValidationError):
        wire.decode_strictly(raw)


def test_a_strict_reader_accepts_every_frame_the_server_builds():
    message = wire.Message(
        id="m", room="r", seq=4, sender="alice", body="hi", created_at="2026-01-01T00:00:00+00:00",
        client_id="c", attachments=[], edited_at="2026-01-01T00:01:00+00:00",
    )  # fmt: skip
    frames = [
        wire.MessageAck(client_id="c", room="r"),
        wire.MessageNew(seq=4, message=message, prev_seq=2),
        wire.MessageUpdated(seq=5, message=message),
        wire.MessageRejected(client_id=None, room="r", id="m", reason="invalid", detail="d"),
        wire.Typing(room="r", user="alice", state=True),
        wire.Presence(user="alice", status="offline", last_seen=None),
        wire.Receipt(room="r", user="alice", seq=4, kind="delivered"),
        wire.ResumeDone(rooms={"r": 4}, reload=["q"]),
        wire.Error(code="invalid_json", detail="d", client_id="c"),
        wire.Pong(),
    ]
    assert [wire.decode_strictly(wire.encode(frame)) for frame in frames] == frames
