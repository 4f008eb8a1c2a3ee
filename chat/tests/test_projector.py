from datetime import UTC, datetime, timedelta

import pytest

from chat import projector
from echostream.core import events

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def created(message_id: str, seq: int, body: str = "hi") -> events.MessageCreated:
    return events.MessageCreated(
        id=message_id,
        room="r",
        seq=seq,
        occurred_at=T0 + timedelta(seconds=seq),
        actor="1",
        data=events.CreatedData(client_id=f"c-{message_id}", body=body, sender="alice"),
    )


def edited(message_id: str, seq: int, body: str) -> events.MessageEdited:
    return events.MessageEdited(
        id=f"e{seq}", room="r", seq=seq, occurred_at=T0 + timedelta(seconds=seq), actor="1",
        data=events.EditedData(message_id=message_id, body=body),
    )  # fmt: skip


def deleted(message_id: str, seq: int) -> events.MessageDeleted:
    return events.MessageDeleted(
        id=f"d{seq}", room="r", seq=seq, occurred_at=T0 + timedelta(seconds=seq), actor="1",
        data=events.DeletedData(message_id=message_id),
    )  # fmt: skip


def test_a_created_event_makes_a_message_at_its_seq():
    document = projector.apply(None, created("m1", 4, "hello"))
    assert (document["_id"], document["seq"], document["body"], document["deleted"]) == ("m1", 4, "hello", False)


def test_the_same_id_again_keeps_the_first_message():
    first = projector.apply(None, created("m1", 0, "first"))
    assert projector.apply(first, created("m1", 9, "retry")) is first


def test_an_edit_changes_the_body_and_records_when():
    state = projector.fold([created("m1", 0), edited("m1", 1, "better")])
    assert state["m1"]["body"] == "better"
    assert state["m1"]["edited_at"] == T0 + timedelta(seconds=1)
    assert state["m1"]["seq"] == 0


def test_a_delete_keeps_the_place_and_removes_the_body():
    state = projector.fold([created("m1", 0, "secret"), deleted("m1", 1)])
    assert state["m1"]["seq"] == 0
    assert state["m1"]["deleted"] is True
    assert state["m1"]["body"] == ""
    assert projector.to_api(state["m1"])["body"] == ""


def test_an_edit_after_a_delete_changes_nothing():
    state = projector.fold([created("m1", 0), deleted("m1", 1), edited("m1", 2, "back")])
    assert state["m1"]["deleted"] is True and state["m1"]["body"] == ""


def test_folding_an_event_twice_changes_nothing():
    once = projector.fold([created("m1", 0), edited("m1", 1, "v2")])
    twice = projector.fold([created("m1", 0), edited("m1", 1, "v2"), edited("m1", 1, "v2")])
    assert once == twice


def test_events_for_an_unknown_message_are_ignored():
    assert projector.fold([edited("ghost", 3, "boo")]) == {}


def test_an_event_without_a_seq_cannot_be_projected():
    event = created("m1", 0)
    with pytest.raises(ValueError, match="seq"):
        projector.apply(
            None, events.MessageCreated(**{**{f: getattr(event, f) for f in event.__struct_fields__}, "seq": None})
        )


def test_the_api_shape_follows_the_protocol():
    document = projector.apply(None, created("m1", 2, "hey"))
    assert projector.to_api(document) == {
        "id": "m1",
        "room": "r",
        "seq": 2,
        "sender": "alice",
        "body": "hey",
        "created_at": "2026-01-01T00:00:02+00:00",
        "client_id": "c-m1",
        "attachments": [],
    }


def test_a_republished_older_edit_does_not_undo_a_newer_one():
    first = edited("m1", 1, "first edit")
    second = edited("m1", 2, "second edit")
    republished_first = events.MessageEdited(**{**{f: getattr(first, f) for f in first.__struct_fields__}, "seq": 3})
    state = projector.fold([created("m1", 0), first, second, republished_first])
    assert state["m1"]["body"] == "second edit"


def test_a_change_naming_another_rooms_message_changes_nothing():
    message = projector.apply(None, created("m1", 0))
    foreign = events.MessageEdited(
        id="e-foreign", room="elsewhere", seq=9, occurred_at=events.now(), actor="1",
        data=events.EditedData(message_id=message["_id"], body="hijacked"),
    )  # fmt: skip
    assert projector.apply(message, foreign) is message


CENSORED = events.ModerationLabel(action="censored")


def test_a_censored_message_carries_its_label_into_the_document_and_the_frame():
    event = created("m1", 0, "you ****")
    event.data.moderation = CENSORED
    document = projector.apply(None, event)
    frame = projector.room_event_frame(new=True, seq=0, message=document)
    assert document["moderation"] == {"action": "censored"}
    assert frame.message.moderation.action == "censored"


def test_a_censored_edit_labels_the_message_and_a_clean_one_clears_the_label():
    censored_edit = edited("m1", 1, "now ****")
    censored_edit.data.moderation = CENSORED
    state = projector.fold([created("m1", 0), censored_edit])
    assert projector.to_api(state["m1"])["moderation"] == {"action": "censored"}
    state = projector.fold([created("m1", 0), censored_edit, edited("m1", 2, "clean")])
    assert "moderation" not in projector.to_api(state["m1"])


def test_a_created_event_carries_its_attachments_metadata_into_the_message():
    from echostream.core import events as ev

    meta = ev.AttachmentMeta(
        id="a1", filename="p.png", content_type="image/png", size=5, width=3, height=4, thumbnail=True
    )
    pdf = ev.AttachmentMeta(id="a2", filename="d.pdf", content_type="application/pdf", size=9)
    created = ev.MessageCreated(
        id="c" * 32,
        room="r1",
        seq=3,
        occurred_at=ev.now(),
        actor="1",
        data=ev.CreatedData(client_id="c", body="", sender="al", attachments=[meta, pdf]),
    )
    decoded = ev.decode(ev.encode(created))
    document = projector.fold([decoded])["c" * 32]
    assert projector.to_api(document)["attachments"] == [
        {
            "id": "a1",
            "filename": "p.png",
            "content_type": "image/png",
            "size": 5,
            "url": "/api/attachments/a1/",
            "width": 3,
            "height": 4,
            "thumbnail_url": "/api/attachments/a1/thumbnail/",
        },
        {"id": "a2", "filename": "d.pdf", "content_type": "application/pdf", "size": 9, "url": "/api/attachments/a2/"},
    ]
    api = projector.to_api(document)
    assert [projector.attachment_from_api(a) for a in api["attachments"]] == document["attachments"]


def test_an_old_record_with_bare_attachment_ids_is_read():
    from echostream.core import events as ev

    raw = (
        b'{"type":"message.created","id":"' + b"d" * 32 + b'","room":"r1","occurred_at":"2026-01-01T00:00:00Z",'
        b'"actor":"1","v":1,"data":{"client_id":"c","body":"hi","sender":"al","attachments":["x1"]}}'
    )
    (meta,) = ev.decode(raw).data.attachments
    assert (meta.id, meta.size) == ("x1", 0)
