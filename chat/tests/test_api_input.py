"""Bad input to the JSON API is refused with 400 `invalid` and changes nothing."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from chat.models import Membership, Room

pytestmark = [pytest.mark.services, pytest.mark.django_db]
User = get_user_model()

# A JSON string escape that names half of a UTF-16 pair: valid JSON syntax, but no text.
LONE_SURROGATE = '"\\ud800"'


def raw_post(client, path: str, body: str):
    return client.post(path, body, content_type="application/json")


def assert_invalid(response) -> None:
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"


def signed_in(client, services) -> User:
    user = User.objects.create_user(username=f"u{uuid.uuid4().hex[:10]}", password="a-long-passphrase")
    client.force_login(user)
    return user


def test_a_lone_surrogate_in_a_sign_in_is_invalid(client):
    assert_invalid(raw_post(client, "/api/auth/login/", f'{{"username": {LONE_SURROGATE}, "password": "x"}}'))


def test_a_lone_surrogate_in_a_sign_up_is_invalid(client):
    response = raw_post(client, "/api/auth/signup/", f'{{"username": {LONE_SURROGATE}, "password": "a-long-pass"}}')
    assert_invalid(response)
    assert not User.objects.exists()


def test_a_lone_surrogate_in_a_group_name_is_invalid(client, services):
    signed_in(client, services)
    assert_invalid(raw_post(client, "/api/rooms/", f'{{"name": {LONE_SURROGATE}, "members": []}}'))
    assert not Room.objects.exists()


def test_a_lone_surrogate_in_a_member_list_is_invalid(client, services):
    signed_in(client, services)
    assert_invalid(raw_post(client, "/api/rooms/", f'{{"name": "team", "members": [{LONE_SURROGATE}]}}'))
    assert not Room.objects.exists()


def test_a_lone_surrogate_in_a_dm_is_invalid(client, services):
    signed_in(client, services)
    assert_invalid(raw_post(client, "/api/dms/", f'{{"username": {LONE_SURROGATE}}}'))
    assert not Room.objects.exists()


def test_a_lone_surrogate_in_an_added_member_is_invalid(client, services):
    signed_in(client, services)
    room = client.post("/api/rooms/", {"name": "team", "members": []}, content_type="application/json").json()
    assert_invalid(raw_post(client, f"/api/rooms/{room['id']}/members/", f'{{"username": {LONE_SURROGATE}}}'))
    assert Membership.objects.filter(room_id=room["id"]).count() == 1


def test_a_lone_surrogate_in_a_key_is_invalid(client):
    assert_invalid(raw_post(client, "/api/auth/login/", '{"\\udc00": 1, "username": "a", "password": "b"}'))


def test_a_deeply_nested_body_is_invalid(client):
    assert_invalid(raw_post(client, "/api/auth/login/", "[" * 100_000))


def test_a_surrogate_pair_is_text(client):
    # The same escapes, paired, are one character (an emoji) and must keep working.
    response = raw_post(client, "/api/auth/signup/", '{"username": "smile\\ud83d\\ude00", "password": "a-long-pass"}')
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]


def test_adding_a_member_with_an_empty_username_is_invalid(client, services):
    signed_in(client, services)
    room = client.post("/api/rooms/", {"name": "team", "members": []}, content_type="application/json").json()
    for username in ("", "   "):
        response = client.post(
            f"/api/rooms/{room['id']}/members/", {"username": username}, content_type="application/json"
        )
        assert_invalid(response)
    assert Membership.objects.filter(room_id=room["id"]).count() == 1


@pytest.mark.parametrize(
    "query",
    [
        "limit=-5",
        "limit=101",
        "limit=0",
        "limit=00",
        "limit=%EF%BC%92",  # a full-width 2
        "limit=1_0",
        "limit=%205",
        "before=abc",
        "after=99999999999999999999",
    ],
)
def test_a_bad_history_query_is_invalid(client, services, query):
    signed_in(client, services)
    room = client.post("/api/rooms/", {"name": "team", "members": []}, content_type="application/json").json()
    assert_invalid(client.get(f"/api/rooms/{room['id']}/messages/?{query}"))


def test_a_nul_in_a_sign_up_is_invalid_and_makes_no_user(client):
    response = client.post(
        "/api/auth/signup/", {"username": "a\x00b", "password": "a-long-pass"}, content_type="application/json"
    )
    assert_invalid(response)
    assert not User.objects.filter(username__startswith="a").exists()


def test_a_nul_in_a_sign_in_is_invalid(client):
    assert_invalid(
        client.post("/api/auth/login/", {"username": "a\x00b", "password": "x"}, content_type="application/json")
    )


def test_a_nul_in_a_group_name_is_invalid_and_makes_no_room(client, services):
    signed_in(client, services)
    response = client.post("/api/rooms/", {"name": "team\x00", "members": []}, content_type="application/json")
    assert_invalid(response)
    assert not Room.objects.exists()


def test_a_nul_in_a_key_nested_in_the_body_is_invalid(client, services):
    signed_in(client, services)
    assert_invalid(
        client.post("/api/rooms/", {"name": "team", "members": [], "x": {"a\x00": 1}}, content_type="application/json")
    )
    assert not Room.objects.exists()


@pytest.mark.parametrize("path", ["/api/users/?q=a%00", "/api/rooms/%00/messages/", "/api/users/?a%00=1"])
def test_a_nul_in_the_address_is_invalid(client, services, path):
    signed_in(client, services)
    assert_invalid(client.get(path))


def test_a_nul_in_a_removed_member_s_name_is_invalid_and_removes_no_one(client, services):
    signed_in(client, services)
    room = client.post("/api/rooms/", {"name": "team", "members": []}, content_type="application/json").json()
    assert_invalid(client.delete(f"/api/rooms/{room['id']}/members/a%00b/"))
    assert Membership.objects.filter(room_id=room["id"]).count() == 1


def test_a_nul_in_a_page_s_address_is_refused_in_plain_text(client, services):
    signed_in(client, services)
    response = client.get("/rooms/%00/")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_a_body_over_django_s_limit_is_too_large(client, settings):
    body = '{"username": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '", "password": "x"}'
    response = raw_post(client, "/api/auth/login/", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_session_cookie_holding_a_nul_is_no_session(client):
    from http.cookies import SimpleCookie

    client.cookies = SimpleCookie({"sessionid": "\x00" + "a" * 31})
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
