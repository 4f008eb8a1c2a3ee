"""Nothing under /api/ answers with HTML, whatever goes wrong."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/no-such-endpoint/", 404, "not_found"),
        ("put", "/api/auth/csrf/", 405, "method_not_allowed"),
        ("get", "/api/me/", 401, "not_authenticated"),
        ("get", "/api/rooms/abc/messages/", 401, "not_authenticated"),
    ],
)
def test_errors_are_json(client, method, path, status, code):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == code


def test_a_post_without_the_csrf_token_is_refused_with_json():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/api/auth/login/", {}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf"


def test_signup_reports_field_errors(client):
    response = client.post("/api/auth/signup/", {"username": "", "password": "1"}, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"username", "password"}


def test_signup_signs_in(client):
    response = client.post(
        "/api/auth/signup/", {"username": "newcomer", "password": "a-long-passphrase"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert client.get("/api/me/").json()["username"] == "newcomer"


def full_width(text: str) -> str:
    return "".join(chr(ord(letter) + 0xFEE0) for letter in text)


@pytest.mark.parametrize("lookalike", [full_width("NEWCOMER"), full_width("newcomer")])
def test_signup_refuses_a_full_width_copy_of_a_taken_username(client, lookalike):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="newcomer", password="a-long-passphrase")
    response = client.post(
        "/api/auth/signup/", {"username": lookalike, "password": "a-long-passphrase"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["username"] == ["That username is taken."]
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["newcomer"]
