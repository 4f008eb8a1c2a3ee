import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echostream.core import events

EVENT_ID = "0123456789abcdef0123456789abcdef"
MESSAGE_ID = "fedcba9876543210fedcba9876543210"


def submitted(**overrides) -> events.MessageSubmitted:
    fields = {
        "id": EVENT_ID,
        "room": "r1",
        "occurred_at": events.now(),
        "actor": "7",
        "data": events.SubmittedData(client_id="c1", body="hello", sender="alice"),
    }
    return events.MessageSubmitted(**{**fields, **overrides})


def as_json(event: events.Event) -> dict:
    return json.loads(events.encode(event))


def with_envelope(**changes) -> bytes:
    """A valid submission's JSON with some envelope fields replaced (None: removed)."""
    raw = as_json(submitted())
    for name, value in changes.items():
        if value is None:
            raw.pop(name)
        else:
            raw[name] = value
    return json.dumps(raw).encode()


def with_data(**changes) -> bytes:
    raw = as_json(submitted())
    raw["data"].update(changes)
    return json.dumps(raw).encode()


def test_an_event_survives_encoding_and_decoding():
    event = submitted()
    assert events.decode(events.encode(event)) == event


def test_an_event_survives_the_channel_layer_s_builtins():
    event = submitted()
    assert events.from_builtins(events.to_builtins(event)) == event


def test_ids_made_by_the_project_are_valid_ids():
    event = submitted(
        id=events.new_event_id(),
        room="0f3a9c2e11b04d7a",
        data=events.SubmittedData(client_id="c1", body="b", sender="alice", attachments=[]),
    )
    created = events.MessageEdited(
        id=events.new_event_id(), room="r1", occurred_at=events.now(), actor="1",
        data=events.EditedData(message_id=events.message_id_for(room_id="r1", sender_id="1", client_id="c"), body="x"),
    )  # fmt: skip
    assert events.decode(events.encode(event)) == event
    assert events.decode(events.encode(created)) == created


def test_the_envelope_carries_the_type_tag():
    assert b'"type":"message.submitted"' in events.encode(submitted())


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"type": "message.exploded", "id": "x"}',
        b"[1, 2]",
        b'{"type": "message.created"}',
        b"",
        b"\xff\xfe\x00",
        b'{"id":"\xed\xa0\x80"}',  # a surrogate encoded as if it were UTF-8
    ],
)
def test_malformed_input_is_an_invalid_event(raw):
    with pytest.raises(events.InvalidEvent):
        events.decode(raw)


def test_deep_nesting_in_an_ignored_field_is_an_invalid_event_not_a_recursion_error():
    raw = with_envelope().replace(b'"actor"', b'"deep":' + b"[" * 100_000 + b"]" * 100_000 + b',"actor"')
    with pytest.raises(events.InvalidEvent):
        events.decode(raw)


def test_an_unknown_field_from_a_newer_process_is_read_and_ignored():
    raw = events.encode(submitted()).replace(b'"actor"', b'"surprise":{"nested":[1,2]},"actor"')
    assert events.decode(raw) == submitted(occurred_at=events.decode(raw).occurred_at)


def test_an_unknown_field_inside_data_is_read_and_ignored():
    raw = events.encode(submitted()).replace(b'"body"', b'"extra":true,"body"')
    assert events.decode(raw).data.body == "hello"


def test_an_unknown_type_is_refused():
    with pytest.raises(events.InvalidEvent, match=r"message\.exploded"):
        events.decode(with_envelope(type="message.exploded"))


def test_another_envelope_version_is_refused():
    raw = events.encode(submitted()).replace(b'"v":1', b'"v":2')
    with pytest.raises(events.InvalidEvent, match="version"):
        events.decode(raw)


def test_another_envelope_version_is_refused_from_the_channel_layer_too():
    with pytest.raises(events.InvalidEvent, match="version"):
        events.from_builtins({**events.to_builtins(submitted()), "v": 2})


def test_code_cannot_build_an_event_with_an_unknown_field():
    with pytest.raises(TypeError):
        events.SubmittedData(client_id="c", body="b", sender="alice", surprise=1)


@pytest.mark.parametrize(
    "actor",
    [
        "abc",  # issue 6: made the moderation worker raise and exit
        "99999999999999999999999",  # issue 6: too large for the database
        "9223372036854775808",  # 2**63, one past the largest primary key
        "0",
        "-1",
        "007",
        "1 ",
        "1\n",
        "",
        7,
        True,
        None,
    ],
)
def test_an_actor_that_is_not_a_user_id_is_refused(actor):
    with pytest.raises(events.InvalidEvent, match="actor"):
        events.decode(with_envelope(actor=actor))


def test_the_largest_user_id_is_an_actor():
    assert events.decode(with_envelope(actor=str(2**63 - 1))).actor == str(2**63 - 1)


@pytest.mark.parametrize(
    "event_id", ["m1", "0123456789ABCDEF0123456789ABCDEF", EVENT_ID + "0", EVENT_ID[:-1] + "\n", 12, ""]
)
def test_an_event_id_that_is_not_a_made_id_is_refused(event_id):
    with pytest.raises(events.InvalidEvent, match="id"):
        events.decode(with_envelope(id=event_id))


@pytest.mark.parametrize("room", ["", "a" * 33, "r.1", "r/1", "r 1", "r1\n", "рум", 1])
def test_a_room_id_unsafe_in_a_topic_name_is_refused(room):
    with pytest.raises(events.InvalidEvent, match="room"):
        events.decode(with_envelope(room=room))


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+14:00",  # issue 6: OverflowError in the bridge
        "9999-12-31T23:59:59-14:00",
        "1999-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "2026-01-01T00:00:00",  # no time zone
        "yesterday",
        1767225600,
    ],
)
def test_a_time_that_is_not_a_sane_aware_moment_is_refused(occurred_at):
    with pytest.raises(events.InvalidEvent, match="occurred_at"):
        events.decode(with_envelope(occurred_at=occurred_at))


def test_a_time_in_another_offset_is_read():
    event = events.decode(with_envelope(occurred_at="2026-03-01T09:30:00+14:00"))
    assert event.occurred_at == datetime(2026, 2, 28, 19, 30, tzinfo=UTC)


@pytest.mark.parametrize("seq", [-1, 2**63, 10**30, True, "3", 1.5])
def test_a_seq_out_of_range_is_refused(seq):
    with pytest.raises(events.InvalidEvent, match="seq"):
        events.decode(with_envelope(seq=seq))


def test_the_largest_seq_is_read():
    assert events.decode(with_envelope(seq=2**63 - 1)).seq == 2**63 - 1


@pytest.mark.parametrize("client_id", ["", "c" * 129, 5])
def test_a_client_id_out_of_bounds_is_refused(client_id):
    with pytest.raises(events.InvalidEvent, match="client_id"):
        events.decode(with_data(client_id=client_id))


def test_a_client_id_of_128_is_read():
    assert events.decode(with_data(client_id="c" * 128)).data.client_id == "c" * 128


def test_a_body_beyond_the_envelope_s_bound_is_refused():
    with pytest.raises(events.InvalidEvent, match="body"):
        events.decode(with_data(body="x" * (events.MAX_BODY_CHARS + 1)))


@pytest.mark.parametrize(
    "attachments", [["a"] * (events.MAX_ATTACHMENTS + 1), [""], ["a/../b"], [["nested"]], "abc", [1]]
)
def test_attachments_out_of_bounds_are_refused(attachments):
    with pytest.raises(events.InvalidEvent, match="attachments"):
        events.decode(with_data(attachments=attachments))


@pytest.mark.parametrize("sender", ["", "s" * 151, None])
def test_a_sender_claim_out_of_bounds_is_refused(sender):
    with pytest.raises(events.InvalidEvent, match="sender"):
        events.decode(with_data(sender=sender))


@pytest.mark.parametrize("field", ["body", "client_id", "sender"])
def test_a_lone_surrogate_in_json_is_refused(field):
    raw = with_data(**{field: "x"}).replace(b'"x"', b'"a\\ud800b"')
    with pytest.raises(events.InvalidEvent):
        events.decode(raw)


@pytest.mark.parametrize("field", ["body", "client_id", "sender"])
def test_a_lone_surrogate_from_the_channel_layer_is_refused(field):
    value = events.to_builtins(submitted())
    value["data"][field] = "a\udc00b"
    with pytest.raises(events.InvalidEvent, match="surrogate"):
        events.from_builtins(value)


def test_a_lone_surrogate_in_a_str_given_to_decode_is_refused():
    with pytest.raises(events.InvalidEvent):
        events.decode(with_data(body="x").decode().replace('"x"', '"\ud800"'))


def test_code_cannot_build_an_event_with_a_lone_surrogate():
    with pytest.raises(ValueError, match="surrogate"):
        events.SubmittedData(client_id="c", body="\ud800", sender="alice")


def test_a_surrogate_pair_is_an_ordinary_character():
    assert events.decode(with_data(body="\U0001f600")).data.body == "\U0001f600"


@pytest.mark.parametrize("message_id", ["m1", MESSAGE_ID.upper(), "", 3])
def test_an_edit_naming_a_message_id_of_another_format_is_refused(message_id):
    raw = as_json(submitted())
    raw.update(type="message.edited", data={"message_id": message_id, "body": "x"})
    with pytest.raises(events.InvalidEvent, match="message_id"):
        events.decode(json.dumps(raw).encode())


def test_a_retry_of_the_same_send_gets_the_same_message_id():
    first = events.message_id_for(room_id="r", sender_id="1", client_id="c")
    assert first == events.message_id_for(room_id="r", sender_id="1", client_id="c")
    assert first != events.message_id_for(room_id="r", sender_id="2", client_id="c")
    assert first != events.message_id_for(room_id="r2", sender_id="1", client_id="c")


def test_times_have_millisecond_precision_like_mongodb():
    assert events.now().microsecond % 1000 == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, database=None)
@given(field=st.sampled_from(["id", "room", "occurred_at", "actor", "v", "seq", "data", "type"]), value=json_values)
def test_whatever_an_envelope_field_holds_decode_returns_a_re_encodable_event_or_refuses(field, value):
    raw = as_json(submitted())
    raw[field] = value
    for attempt in (lambda: events.decode(json.dumps(raw).encode()), lambda: events.from_builtins(raw)):
        try:
            event = attempt()
        except events.InvalidEvent:
            continue
        assert events.decode(events.encode(event)) == event


@settings(max_examples=300, database=None)
@given(raw=st.binary(max_size=200))
def test_whatever_bytes_arrive_decode_returns_an_event_or_refuses(raw):
    try:
        events.decode(raw)
    except events.InvalidEvent:
        pass


def test_frames_and_events_share_one_largest_seq():
    from echostream.core import frames

    assert frames.MAX_SEQ is events.MAX_SEQ
    assert frames.is_seq(events.MAX_SEQ) and not frames.is_seq(events.MAX_SEQ + 1)


def _created_json(moderation: object) -> bytes:
    return json.dumps(
        {
            "type": "message.created", "id": "a" * 32, "room": "r1", "occurred_at": "2026-01-01T00:00:00+00:00",
            "actor": "1", "v": 1,
            "data": {"client_id": "c1", "body": "b", "sender": "alice", "moderation": moderation},
        }
    ).encode()  # fmt: skip


def test_the_moderation_label_is_an_object_and_a_bare_string_of_old_records_is_read_as_one():
    assert events.decode(_created_json({"action": "censored"})).data.moderation == events.ModerationLabel(
        action="censored"
    )
    assert events.decode(_created_json("censored")).data.moderation == events.ModerationLabel(action="censored")
    assert events.decode(_created_json(None)).data.moderation is None


def test_a_label_with_an_action_of_a_newer_worker_is_read():
    assert events.decode(_created_json({"action": "blurred", "by": "x"})).data.moderation.action == "blurred"
