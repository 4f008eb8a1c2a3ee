"""The HTTP doors' throttles (echostream/throttle.py), counted in the real Redis.

Each test uses its own usernames and client addresses, so its buckets are its own.
Rates are per day: a fixed window that ended mid-test would reset a count.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from chat.models import Room
from tests.system.stack import free_port

pytestmark = [pytest.mark.services, pytest.mark.django_db]
User = get_user_model()
PASSWORD = "a-long-passphrase"


def fresh_ip() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def fresh_name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


def post(client, path: str, body: dict, *, ip: str):
    return client.post(path, body, content_type="application/json", REMOTE_ADDR=ip)


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


@pytest.fixture
def account(services):
    return User.objects.create_user(username=fresh_name(), password=PASSWORD)


def test_wrong_passwords_for_one_account_are_limited_from_any_address(client, settings, account):
    settings.THROTTLE_SIGNIN_PER_USERNAME = "3/d"
    for _ in range(3):
        response = post(client, "/api/auth/login/", {"username": account.username, "password": "x"}, ip=fresh_ip())
        assert response.json()["error"]["code"] == "bad_credentials"
    response = post(client, "/api/auth/login/", {"username": account.username, "password": "x"}, ip=fresh_ip())
    assert_rate_limited(response)


def test_a_limited_account_is_shut_even_for_the_right_password(client, settings, account):
    settings.THROTTLE_SIGNIN_PER_USERNAME = "2/d"
    for _ in range(2):
        post(client, "/api/auth/login/", {"username": account.username, "password": "x"}, ip=fresh_ip())
    response = post(client, "/api/auth/login/", {"username": account.username, "password": PASSWORD}, ip=fresh_ip())
    assert_rate_limited(response)
    assert client.get("/api/me/").status_code == 401


def test_the_username_bucket_ignores_case(client, settings, account):
    settings.THROTTLE_SIGNIN_PER_USERNAME = "2/d"
    for name in (account.username.upper(), account.username.title()):
        post(client, "/api/auth/login/", {"username": name, "password": "x"}, ip=fresh_ip())
    assert_rate_limited(
        post(client, "/api/auth/login/", {"username": account.username, "password": "x"}, ip=fresh_ip())
    )


def test_sign_ins_from_one_address_are_limited_across_accounts(client, settings, account):
    settings.THROTTLE_SIGNIN_PER_IP = "3/d"
    ip = fresh_ip()
    for _ in range(3):
        post(client, "/api/auth/login/", {"username": fresh_name(), "password": "x"}, ip=ip)
    assert_rate_limited(post(client, "/api/auth/login/", {"username": account.username, "password": PASSWORD}, ip=ip))
    # Another address is not affected.
    assert (
        post(
            client, "/api/auth/login/", {"username": account.username, "password": PASSWORD}, ip=fresh_ip()
        ).status_code
        == 200
    )


def test_sign_ups_from_one_address_are_limited(client, settings, services):
    settings.THROTTLE_SIGNUP_PER_IP = "2/d"
    ip = fresh_ip()
    for _ in range(2):
        client.logout()
        assert (
            post(client, "/api/auth/signup/", {"username": fresh_name(), "password": PASSWORD}, ip=ip).status_code
            == 201
        )
    client.logout()
    refused = fresh_name()
    assert_rate_limited(post(client, "/api/auth/signup/", {"username": refused, "password": PASSWORD}, ip=ip))
    assert not User.objects.filter(username=refused).exists()


def test_group_creation_is_limited_per_user(client, settings, account):
    settings.THROTTLE_CREATE_GROUP_PER_USER = "2/d"
    client.force_login(account)
    for name in ("one", "two"):
        assert post(client, "/api/rooms/", {"name": name, "members": []}, ip=fresh_ip()).status_code == 201
    assert_rate_limited(post(client, "/api/rooms/", {"name": "three", "members": []}, ip=fresh_ip()))
    assert not Room.objects.filter(name="three").exists()
    # Reading the list is not creating.
    assert client.get("/api/rooms/").status_code == 200


def test_group_creation_is_limited_per_address(client, settings, services):
    settings.THROTTLE_CREATE_GROUP_PER_IP = "2/d"
    ip = fresh_ip()
    for name in ("one", "two"):
        client.force_login(User.objects.create_user(username=fresh_name(), password=PASSWORD))
        assert post(client, "/api/rooms/", {"name": name, "members": []}, ip=ip).status_code == 201
    client.force_login(User.objects.create_user(username=fresh_name(), password=PASSWORD))
    assert_rate_limited(post(client, "/api/rooms/", {"name": "three", "members": []}, ip=ip))


def test_opening_dms_is_limited_per_user(client, settings, account):
    settings.THROTTLE_OPEN_DM_PER_USER = "2/d"
    others = [User.objects.create_user(username=fresh_name(), password=PASSWORD) for _ in range(3)]
    client.force_login(account)
    for other in others[:2]:
        assert post(client, "/api/dms/", {"username": other.username}, ip=fresh_ip()).status_code == 201
    assert_rate_limited(post(client, "/api/dms/", {"username": others[2].username}, ip=fresh_ip()))
    assert Room.objects.filter(kind=Room.Kind.DM).count() == 2


def test_the_sign_in_page_is_limited_too(client, settings, account):
    settings.THROTTLE_SIGNIN_PER_USERNAME = "2/d"
    for _ in range(2):
        client.post("/login/", {"username": account.username, "password": "x"}, REMOTE_ADDR=fresh_ip())
    response = client.post("/login/", {"username": account.username, "password": PASSWORD}, REMOTE_ADDR=fresh_ip())
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert client.get("/api/me/").status_code == 401


def test_the_sign_up_page_is_limited_too(client, settings, services):
    settings.THROTTLE_SIGNUP_PER_IP = "1/d"
    ip = fresh_ip()
    for _ in range(2):
        client.logout()
        name = fresh_name()
        response = client.post(
            "/signup/", {"username": name, "password1": PASSWORD, "password2": PASSWORD}, REMOTE_ADDR=ip
        )
    assert response.status_code == 429
    assert not User.objects.filter(username=name).exists()


# --- Redis down: the doors shut, with a clear answer -----------------------------


@pytest.fixture
def redis_down(settings):
    closed_port = free_port()  # nothing listens there
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
        }
    }


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "unavailable"
    assert "Redis" in response.json()["error"]["detail"]


def test_without_redis_sign_in_is_refused_not_opened(client, account, redis_down):
    assert_unavailable(
        post(client, "/api/auth/login/", {"username": account.username, "password": PASSWORD}, ip=fresh_ip())
    )
    assert client.get("/api/me/").status_code == 401


def test_without_redis_sign_up_is_refused(client, services, redis_down):
    name = fresh_name()
    assert_unavailable(post(client, "/api/auth/signup/", {"username": name, "password": PASSWORD}, ip=fresh_ip()))
    assert not User.objects.filter(username=name).exists()


def test_without_redis_the_sign_in_page_is_refused(client, account, redis_down):
    response = client.post("/login/", {"username": account.username, "password": PASSWORD}, REMOTE_ADDR=fresh_ip())
    assert response.status_code == 503
    assert client.get("/api/me/").status_code == 401
