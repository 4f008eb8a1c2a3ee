"""POST /api/rooms/<id>/messages/<message_id>/report/ through the whole Django stack (real
database, Redis for the throttle, MongoDB for the message)."""

from __future__ import annotations

import pytest

from moderation.models import Report
from moderation.tests.conftest import person

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]


def report(client, scene, *, message_id: str | None = None, body: dict | None = None):
    return client.post(
        f"/api/rooms/{scene.room.pk}/messages/{message_id or scene.message['_id']}/report/",
        body if body is not None else {"reason": "rude"},
        content_type="application/json",
    )


def test_a_member_s_report_is_created(client, scene):
    client.force_login(scene.alice)
    response = report(client, scene)
    assert response.status_code == 201
    made = Report.objects.get()
    assert response.json() == {"id": str(made.pk), "status": "open"}
    assert (made.reporter, made.message_id) == (scene.alice, scene.message["_id"])


def test_the_same_report_again_answers_the_open_one(client, scene):
    client.force_login(scene.alice)
    first = report(client, scene).json()
    again = report(client, scene)
    assert (again.status_code, again.json()) == (200, first)
    assert Report.objects.count() == 1


def test_a_stranger_and_an_unknown_message_get_the_same_404(client, scene):
    client.force_login(person("eve"))
    stranger = report(client, scene)
    client.force_login(scene.alice)
    unknown = report(client, scene, message_id="0" * 32)
    assert stranger.status_code == unknown.status_code == 404
    assert stranger.json() == unknown.json() == {"error": {"code": "not_found", "detail": "No such message."}}
    assert not Report.objects.exists()


@pytest.mark.parametrize("body", [{}, {"reason": "  "}, {"reason": 5}, {"reason": "x" * 1001}])
def test_a_bad_reason_is_400_invalid(client, scene, body):
    client.force_login(scene.alice)
    response = report(client, scene, body=body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid")


def test_signed_out_is_401(client, scene):
    assert report(client, scene).status_code == 401


def test_reports_are_throttled_per_user(client, scene, settings):
    settings.THROTTLE_REPORT_PER_USER = "2/d"
    client.force_login(scene.alice)
    for _ in range(2):
        report(client, scene)
    response = report(client, scene)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
