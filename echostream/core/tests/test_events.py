import pytest

from echostream.core import events


def submitted(**overrides) -> events.MessageSubmitted:
    fields = {
        "id": "m1",
        "room": "r1",
        "occurred_at": events.now(),
        "actor": "7",
        "data": events.SubmittedData(client_id="c1", body="hello", sender="alice"),
    }
    return events.MessageSubmitted(**{**fields, **overrides})


def test_an_event_survives_encoding_and_decoding():
    event = submitted()
    assert events.decode(events.encode(event)) == event


def test_the_envelope_carries_the_type_tag():
    assert b'"type":"message.submitted"' in events.encode(submitted())


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"type": "message.exploded", "id": "x"}',
        b"[1, 2]",
        b'{"type": "message.created"}',
    ],
)
def test_malformed_input_is_an_invalid_event(raw):
    with pytest.raises(events.InvalidEvent):
        events.decode(raw)


def test_an_unknown_field_is_refused():
    raw = events.encode(submitted()).replace(b'"actor"', b'"surprise":1,"actor"')
    with pytest.raises(events.InvalidEvent, match="surprise"):
        events.decode(raw)


def test_an_unknown_field_inside_data_is_refused():
    raw = events.encode(submitted()).replace(b'"body"', b'"extra":true,"body"')
    with pytest.raises(events.InvalidEvent, match="extra"):
        events.decode(raw)


def test_another_envelope_version_is_refused():
    raw = events.encode(submitted()).replace(b'"v":1', b'"v":2')
    with pytest.raises(events.InvalidEvent, match="version"):
        events.decode(raw)


def test_a_retry_of_the_same_send_gets_the_same_message_id():
    first = events.message_id_for(room_id="r", sender_id="1", client_id="c")
    assert first == events.message_id_for(room_id="r", sender_id="1", client_id="c")
    assert first != events.message_id_for(room_id="r", sender_id="2", client_id="c")
    assert first != events.message_id_for(room_id="r2", sender_id="1", client_id="c")


def test_times_have_millisecond_precision_like_mongodb():
    assert events.now().microsecond % 1000 == 0
