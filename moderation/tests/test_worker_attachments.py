"""The moderation worker fills a submission's attachment metadata into the room event, from
MongoDB, and claims the attachments for the message; forged records are dead-lettered."""

from __future__ import annotations

import threading
import uuid

import msgspec
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from chat import attachments_store, projector
from echostream.core import events, kafka
from moderation import worker
from moderation.tests.kafka_probe import dead_letters, record, room_values

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()


def person(name: str):
    return User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x")


@pytest.fixture
def scene():
    from chat.models import Membership, Room

    alice, bob = person("alice"), person("bob")
    room = Room.objects.create(name="g")
    Membership.objects.create(room=room, user=alice)
    Membership.objects.create(room=room, user=bob)
    kafka.ensure_room_topic(room.pk)
    return room.pk, alice, bob


def attachment(*, room_id: str, uploader, name: str = "a.png", image: bool = True) -> str:
    attachment_id = uuid.uuid4().hex
    async_to_sync(attachments_store.insert)(
        {
            "_id": attachment_id,
            "room": room_id,
            "uploader_id": str(uploader.pk),
            "uploader": uploader.username,
            "original_filename": name,
            "filename": name,
            "content_type": "image/png" if image else "application/pdf",
            "size": 123,
            "sha256": "0" * 64,
            "width": 4 if image else None,
            "height": 3 if image else None,
            "storage_name": f"attachments/{room_id}/{attachment_id}/file",
            "thumbnail_name": f"attachments/{room_id}/{attachment_id}/thumbnail.png" if image else None,
            "thumbnail_type": "image/png" if image else None,
            "created_at": events.now(),
            "message_id": None,
        }
    )
    return attachment_id


def submission(*, room_id: str, sender, client_id: str, attachments: list[str], body: str = "") -> bytes:
    return events.encode(
        events.MessageSubmitted(
            id=events.message_id_for(room_id=room_id, sender_id=str(sender.pk), client_id=client_id),
            room=room_id,
            occurred_at=events.now(),
            actor=str(sender.pk),
            data=events.SubmittedData(client_id=client_id, body=body, sender=sender.username, attachments=attachments),
        )
    )


def run_batch(records: list[kafka.Message]) -> None:
    worker.handle_batch(kafka.make_sync_producer(), records, stop=threading.Event())


def test_the_worker_publishes_the_attachments_metadata_in_order_and_claims_them(scene):
    room_id, alice, _ = scene
    picture = attachment(room_id=room_id, uploader=alice)
    paper = attachment(room_id=room_id, uploader=alice, name="p.pdf", image=False)
    value = submission(room_id=room_id, sender=alice, client_id="c1", attachments=[paper, picture])

    run_batch([record(value)])
    run_batch([record(value)])  # a redelivery claims again, harmlessly

    published = [events.decode(raw) for raw in room_values(room_id)]
    assert len(published) == 2
    created = published[0]
    assert [meta.id for meta in created.data.attachments] == [paper, picture]
    assert created.data.attachments[1] == events.AttachmentMeta(
        id=picture, filename="a.png", content_type="image/png", size=123, width=4, height=3, thumbnail=True
    )
    claimed = async_to_sync(attachments_store.get_many)([paper, picture])
    assert {document["message_id"] for document in claimed.values()} == {created.id}
    # The message, as the bridge and a rebuild make it, carries them.
    message = projector.to_api(projector.apply(None, msgspec.structs.replace(created, seq=0)))
    assert [item["url"] for item in message["attachments"]] == [
        f"/api/attachments/{paper}/",
        f"/api/attachments/{picture}/",
    ]
    assert message["attachments"][1]["thumbnail_url"] == f"/api/attachments/{picture}/thumbnail/"


def test_a_forged_record_naming_anothers_attachment_is_dead_lettered(scene):
    room_id, alice, bob = scene
    bobs = attachment(room_id=room_id, uploader=bob)
    forged = record(submission(room_id=room_id, sender=alice, client_id="forged", attachments=[bobs]))
    unknown = record(submission(room_id=room_id, sender=alice, client_id="unknown", attachments=["nosuch"]))

    run_batch([forged, unknown])

    assert room_values(room_id) == []
    assert "attachments" in dead_letters(forged.topic())[0]["error"]
    assert "attachments" in dead_letters(unknown.topic())[0]["error"]
    assert async_to_sync(attachments_store.get)(bobs)["message_id"] is None


def test_an_attachment_already_claimed_by_another_message_is_refused_to_its_sender(scene):
    room_id, alice, _ = scene
    shared = attachment(room_id=room_id, uploader=alice)
    first = record(submission(room_id=room_id, sender=alice, client_id="first", attachments=[shared]))
    second = record(submission(room_id=room_id, sender=alice, client_id="second", attachments=[shared], body="x"))

    run_batch([first, second])

    published = [events.decode(raw) for raw in room_values(room_id)]
    assert [event.data.client_id for event in published] == ["first"]
    assert dead_letters(second.topic()) == []
