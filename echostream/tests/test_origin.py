"""The WebSocket Origin rule: scheme, host and port must all match the site or a trusted origin."""

from __future__ import annotations

import pytest

from echostream.origin import is_allowed, parse_origin


def scope(origin: str | None, host: str = "chat.example:8000", scheme: str = "ws") -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.fixture(autouse=True)
def site(settings):
    settings.ALLOWED_HOSTS = ["chat.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example", "https://*.partner.example"]


def test_the_sites_own_origin_is_allowed():
    assert is_allowed(scope("http://chat.example:8000"))


@pytest.mark.parametrize(
    "origin",
    [
        "http://chat.example:8001",  # another port of the same host
        "http://chat.example",  # port 80
        "https://chat.example:8000",  # another scheme
        "http://evil.example:8000",
        "null",
        "",
        "http://chat.example:99999",
        "http://chat.example:8000/path",
    ],
)
def test_any_other_origin_is_refused(origin):
    assert not is_allowed(scope(origin))


def test_a_socket_without_an_origin_is_refused():
    assert not is_allowed(scope(None))


def test_a_host_outside_allowed_hosts_is_no_origin_of_ours():
    # DNS rebinding: the attacker's name points at the server; Host and Origin then agree.
    assert not is_allowed(scope("http://rebound.example:8000", host="rebound.example:8000"))


def test_a_secure_socket_has_an_https_origin():
    assert is_allowed(scope("https://chat.example", host="chat.example", scheme="wss"))
    assert not is_allowed(scope("http://chat.example", host="chat.example", scheme="wss"))


def test_trusted_origins_are_allowed_exactly_and_by_subdomain_wildcard():
    assert is_allowed(scope("https://app.example"))
    assert is_allowed(scope("https://a.partner.example"))
    assert not is_allowed(scope("https://app.example:8443"))
    assert not is_allowed(scope("http://app.example"))
    assert not is_allowed(scope("https://partner.example.evil"))


def test_an_origin_is_scheme_host_and_default_port():
    assert parse_origin("HTTPS://Chat.Example") == ("https", "chat.example", 443)
    assert parse_origin("ftp://chat.example") is None
