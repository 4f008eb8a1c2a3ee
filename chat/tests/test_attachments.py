"""Attachments against the real MongoDB and the file-system storage (in a temporary MEDIA_ROOT):
uploads, their checks and metadata, member-only downloads, and messages that name them."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from chat import attachments_store, projector, recent, repository, services
from chat.models import Membership, Room
from echostream.core import events
from tests import images

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def person(name: str) -> User:
    return User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def scene():
    """A room of alice and bob, a stranger, and a signed-in client for each."""
    alice, bob, eve = person("alice"), person("bob"), person("eve")
    room = Room.objects.create(name="g", created_by=alice)
    Membership.objects.create(room=room, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.create(room=room, user=bob)
    return {
        "room": room.pk,
        "alice": alice,
        "bob": bob,
        "eve": eve,
        "as_alice": signed_in(alice),
        "as_bob": signed_in(bob),
        "as_eve": signed_in(eve),
    }


def upload(client: Client, room_id: str, data: bytes, name: str, content_type: str = "application/octet-stream"):
    return client.post(
        f"/api/rooms/{room_id}/attachments/", {"file": SimpleUploadedFile(name, data, content_type=content_type)}
    )


def stored(attachment_id: str) -> dict | None:
    return async_to_sync(attachments_store.get)(attachment_id)


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_png_is_stored_with_its_metadata_and_a_thumbnail(scene, media):
    data = images.png(800, 400)
    response = upload(scene["as_alice"], scene["room"], data, "picture.png", "image/png")

    assert response.status_code == 201
    answer = response.json()
    attachment_id = answer["id"]
    assert answer == {
        "id": attachment_id,
        "filename": "picture.png",
        "content_type": "image/png",
        "size": len(data),
        "url": f"/api/attachments/{attachment_id}/",
        "width": 800,
        "height": 400,
        "thumbnail_url": f"/api/attachments/{attachment_id}/thumbnail/",
    }
    document = stored(attachment_id)
    assert document["sha256"] == hashlib.sha256(data).hexdigest()
    assert (document["room"], document["uploader_id"], document["message_id"]) == (
        scene["room"],
        str(scene["alice"].pk),
        None,
    )
    assert (document["original_filename"], document["created_at"].tzinfo is not None) == ("picture.png", True)
    assert len(files_under(media)) == 2

    download = scene["as_bob"].get(answer["url"])
    assert download.status_code == 200
    assert body_of(download) == data
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("inline")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download["Content-Security-Policy"]
    thumbnail = scene["as_bob"].get(answer["thumbnail_url"])
    with Image.open(io.BytesIO(body_of(thumbnail))) as thumb:
        assert (thumb.format, thumb.size) == ("PNG", (320, 160))


def test_a_jpeg_with_exif_rotation_is_measured_as_shown_and_its_thumbnail_has_no_exif(scene):
    data = images.jpeg_with_orientation(600, 300)
    answer = upload(scene["as_alice"], scene["room"], data, "photo.JPG").json()

    assert (answer["content_type"], answer["width"], answer["height"]) == ("image/jpeg", 300, 600)
    thumbnail = scene["as_alice"].get(answer["thumbnail_url"])
    assert thumbnail.status_code == 200
    with Image.open(io.BytesIO(body_of(thumbnail))) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (160, 320))
        assert not thumb.getexif()
        assert "exif" not in thumb.info


def test_a_pdf_is_stored_and_downloaded_as_an_attachment(scene):
    data = images.pdf()
    response = upload(scene["as_alice"], scene["room"], data, "report.pdf", "text/html")

    assert response.status_code == 201
    answer = response.json()
    assert (answer["content_type"], answer["size"], answer["filename"]) == ("application/pdf", len(data), "report.pdf")
    assert not {"width", "height", "thumbnail_url"} & set(answer)
    download = scene["as_bob"].get(answer["url"])
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert body_of(download) == data
    assert scene["as_alice"].get(f"/api/attachments/{answer['id']}/thumbnail/").status_code == 404


def test_html_is_never_served_inline(scene):
    answer = upload(scene["as_alice"], scene["room"], b"<html><script>alert(1)</script>", "x.html", "text/html").json()
    download = scene["as_bob"].get(answer["url"])
    assert download["Content-Type"] == "text/plain"
    assert download["Content-Disposition"].startswith("attachment")


def test_a_strangers_upload_and_download_are_refused(scene, media):
    refused = upload(scene["as_eve"], scene["room"], images.png(), "x.png")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert upload(scene["as_alice"], "nosuchroom", images.png(), "x.png").status_code == 404

    answer = upload(scene["as_alice"], scene["room"], images.png(), "x.png").json()
    for url in (answer["url"], answer["thumbnail_url"], "/api/attachments/nosuch/"):
        response = scene["as_eve"].get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Client().get(answer["url"]).status_code == 401


def test_an_oversized_upload_is_answered_413_and_leaves_nothing_behind(scene, media, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    before = async_to_sync(attachments_store.count_in_room)(scene["room"])

    # Within the framing allowance, so that the file's own size decides (not the Content-Length).
    response = upload(scene["as_alice"], scene["room"], b"x" * 1001, "big.txt")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    # Far over: refused by the Content-Length before the body is read.
    response = upload(scene["as_alice"], scene["room"], b"x" * 200_000, "big.txt")
    assert response.status_code == 413
    assert files_under(media) == []
    assert async_to_sync(attachments_store.count_in_room)(scene["room"]) == before


def test_an_executable_renamed_png_is_refused(scene, media):
    response = upload(scene["as_alice"], scene["room"], images.elf(), "x.png", "image/png")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert files_under(media) == []


def test_a_decompression_bomb_is_refused(scene, media):
    response = upload(scene["as_alice"], scene["room"], images.png_bomb(), "bomb.png", "image/png")
    assert response.status_code == 400
    assert "pixels" in response.json()["error"]["detail"]
    assert files_under(media) == []


def test_a_path_traversal_filename_is_stored_safely(scene, media, tmp_path):
    response = upload(scene["as_alice"], scene["room"], b"root:x:0:0\n", "../../etc/passwd")
    assert response.status_code == 201
    answer = response.json()
    assert answer["filename"] == "passwd"
    (path,) = files_under(media)
    assert media.resolve() in path.resolve().parents
    assert not (tmp_path / "etc").exists()
    # Django's multipart parser already keeps only the name's last part; chat.files does it again.
    assert "/" not in stored(answer["id"])["original_filename"]
    assert scene["as_bob"].get(answer["url"])["Content-Disposition"] == 'attachment; filename="passwd"'


def test_an_upload_without_a_file_or_with_an_empty_one_is_refused(scene):
    response = scene["as_alice"].post(f"/api/rooms/{scene['room']}/attachments/", {})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid")
    assert upload(scene["as_alice"], scene["room"], b"", "empty.txt").status_code == 400


def test_an_upload_of_two_files_is_refused_and_stores_neither(scene, media):
    before = async_to_sync(attachments_store.count_in_room)(scene["room"])
    files = [SimpleUploadedFile(name, b"hello", content_type="text/plain") for name in ("one.txt", "two.txt")]
    response = scene["as_alice"].post(f"/api/rooms/{scene['room']}/attachments/", {"file": files})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid")
    assert files_under(media) == []
    assert async_to_sync(attachments_store.count_in_room)(scene["room"]) == before


def test_an_upload_whose_part_headers_django_will_not_read_is_invalid(scene, media):
    # Built by hand: Django's test client would cut the name to 255 characters before sending it.
    boundary = "b0undary"
    part = f'Content-Disposition: form-data; name="file"; filename="{"x" * 1000}.txt"\r\nContent-Type: text/plain'
    body = f"--{boundary}\r\n{part}\r\n\r\nhello\r\n--{boundary}--\r\n".encode()
    response = scene["as_alice"].post(
        f"/api/rooms/{scene['room']}/attachments/", body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid")
    assert files_under(media) == []


def test_uploads_are_throttled(scene, settings):
    settings.THROTTLE_UPLOAD_PER_USER = "1/m"
    user = person("quick")
    Membership.objects.create(room_id=scene["room"], user=user)
    client = signed_in(user)
    assert upload(client, scene["room"], b"one", "a.txt").status_code == 201
    refused = upload(client, scene["room"], b"two", "b.txt")
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited")
    assert int(refused["Retry-After"]) >= 1


# --- Messages that name attachments ---------------------------------------------------------


def check_send(*, sender, room_id: str, attachments: list[str], body: str = "", client_id: str = "c1"):
    return async_to_sync(services.check_message_send)(
        sender_id=str(sender.pk),
        room_id=room_id,
        client_id=client_id,
        body=body,
        attachments=attachments,
        max_body_chars=4000,
    )


def test_a_send_may_name_its_senders_attachments_and_needs_no_text(scene):
    first = upload(scene["as_alice"], scene["room"], images.png(), "a.png").json()["id"]
    second = upload(scene["as_alice"], scene["room"], images.pdf(), "b.pdf").json()["id"]

    submission = check_send(sender=scene["alice"], room_id=scene["room"], attachments=[second, first])
    assert submission.attachments == [second, first]


@pytest.mark.parametrize("whose", ["bob's", "unknown", "other room's", "twice", "not an id"])
def test_a_send_naming_an_attachment_that_is_not_the_senders_is_refused(scene, whose):
    other_room = Room.objects.create(name="other")
    Membership.objects.create(room=other_room, user=scene["alice"])
    if whose == "bob's":
        ids = [upload(scene["as_bob"], scene["room"], b"bob", "b.txt").json()["id"]]
    elif whose == "unknown":
        ids = [uuid.uuid4().hex]
    elif whose == "other room's":
        ids = [upload(scene["as_alice"], other_room.pk, b"elsewhere", "o.txt").json()["id"]]
    elif whose == "twice":
        ids = [upload(scene["as_alice"], scene["room"], b"a", "a.txt").json()["id"]] * 2
    else:
        ids = ["../x"]

    with pytest.raises(services.SendRefused) as refusal:
        check_send(sender=scene["alice"], room_id=scene["room"], attachments=ids)
    assert refusal.value.reason == "invalid"


# White space; zero-width spaces; a zero-width joiner and a BOM; the blank Braille pattern.
@pytest.mark.parametrize("body", ["  ", "\u200b\u200b", "\u200d\ufeff\n", "\u2800"])
def test_a_send_with_neither_text_nor_attachments_is_refused(scene, body):
    with pytest.raises(services.SendRefused, match="text or an attachment"):
        check_send(sender=scene["alice"], room_id=scene["room"], attachments=[], body=body)


def _store_message(*, room_id: str, sender, client_id: str, attachment_ids: list[str], seq: int) -> str:
    """Claims the attachments and stores the message as the worker and the bridge would."""
    from chat import attachments as chat_attachments

    message_id = events.message_id_for(room_id=room_id, sender_id=str(sender.pk), client_id=client_id)
    metadata = async_to_sync(chat_attachments.aclaim_for_message)(
        sender_id=str(sender.pk), room_id=room_id, message_id=message_id, attachment_ids=attachment_ids
    )
    created = events.MessageCreated(
        id=message_id,
        room=room_id,
        seq=seq,
        occurred_at=events.now(),
        actor=str(sender.pk),
        data=events.CreatedData(client_id=client_id, body="see", sender=sender.username, attachments=metadata),
    )
    async_to_sync(repository.store_new)(projector.apply(None, created))
    return message_id


def test_history_shows_a_messages_attachments_and_a_deleted_messages_are_no_longer_downloadable(scene):
    answer = upload(scene["as_alice"], scene["room"], images.png(), "a.png").json()
    message_id = _store_message(
        room_id=scene["room"], sender=scene["alice"], client_id="c1", attachment_ids=[answer["id"]], seq=0
    )
    assert stored(answer["id"])["message_id"] == message_id

    (message,) = scene["as_bob"].get(f"/api/rooms/{scene['room']}/messages/").json()["messages"]
    assert message["attachments"] == [answer]
    # Claimed: another message may not carry it.
    with pytest.raises(services.SendRefused, match="another message"):
        check_send(sender=scene["alice"], room_id=scene["room"], attachments=[answer["id"]], client_id="c2")

    deleted = events.MessageDeleted(
        id=events.new_event_id(),
        room=scene["room"],
        seq=1,
        occurred_at=events.now(),
        actor=str(scene["alice"].pk),
        data=events.DeletedData(message_id=message_id, client_id="c1"),
    )
    document = async_to_sync(repository.get)(message_id)
    async_to_sync(repository.replace_if_newer)(projector.apply(document, deleted))
    # As the bridge would: the room's cache of recent messages shows the delete too.
    async_to_sync(recent.forget)(scene["room"])

    assert scene["as_bob"].get(answer["url"]).status_code == 404
    assert scene["as_alice"].get(answer["thumbnail_url"]).status_code == 404
    (message,) = scene["as_bob"].get(f"/api/rooms/{scene['room']}/messages/").json()["messages"]
    assert message["attachments"] == []
