"""Attachments through the running roles: alice uploads and sends, bob's socket gets the message
with the attachment object and can download it; a stranger cannot, and a big body gets 413."""

from __future__ import annotations

import pytest

from tests import images

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


async def test_an_uploaded_image_reaches_members_with_its_message_and_only_them(clients):
    alice, bob, eve = await clients("alice"), await clients("bob"), await clients("eve")
    room = await alice.create_group("pics", [bob.username])
    data = images.jpeg_with_orientation(600, 300)

    uploaded = await alice.upload(room["id"], data, "holiday.jpg", "image/jpeg")
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert (attachment["width"], attachment["height"]) == (300, 600)
    refused = await eve.upload(room["id"], images.png(), "x.png", "image/png")
    assert refused.status_code == 404

    client_id = await alice.send_message(room["id"], "", attachments=[attachment["id"]])
    for person in (alice, bob):
        message = (await person.next_frame("message.new"))["message"]
        assert (message["client_id"], message["body"]) == (client_id, "")
        assert message["attachments"] == [attachment]

    download = await bob.http.get(attachment["url"])
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["x-content-type-options"] == "nosniff"
    assert (await bob.http.get(attachment["thumbnail_url"])).headers["content-type"] == "image/jpeg"
    assert (await eve.http.get(attachment["url"])).status_code == 404
    (stored,) = (await bob.history(room["id"])).json()["messages"]
    assert stored["attachments"] == [attachment]

    # Another room's member cannot borrow it, and neither can alice for a second message.
    await alice.send_message(room["id"], "again", attachments=[attachment["id"]])
    rejected = await alice.next_frame("message.rejected")
    assert rejected["reason"] == "invalid"


async def test_an_oversized_upload_is_refused_before_its_body_is_read(clients):
    alice = await clients("alice")
    room = await alice.create_group("big", [])
    response = await alice.upload(room["id"], b"\0" * (26 * 1024 * 1024), "big.bin")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
