"""Who may read /metrics and what they get: echostream.core.metrics.respond, which the web's view
and each worker's port both call. Called directly: no server, no other system."""

from __future__ import annotations

import json
from email.message import Message

import pytest
from django.utils.datastructures import CaseInsensitiveMapping
from prometheus_client import CollectorRegistry, Gauge

from echostream.core import metrics, metrics_server


@pytest.fixture
def registry():
    registry = CollectorRegistry()
    Gauge("stand_in", "The access tests' only metric.", registry=registry).set(7)
    return registry


def respond(registry, *, peer="127.0.0.1", **headers):
    # Case-insensitive, as Django's request.headers and a worker's request_headers are.
    mapping = CaseInsensitiveMapping({name.replace("_", "-"): value for name, value in headers.items()})
    return metrics.respond(peer=peer, headers=mapping, registry=registry)


def test_a_reader_gets_the_registrys_metrics_in_prometheus_text(registry):
    answer = respond(registry)
    assert answer.status == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    assert b"stand_in 7.0" in answer.body


def test_a_scraper_that_asks_for_openmetrics_gets_it(registry):
    answer = respond(registry, Accept="application/openmetrics-text; version=1.0.0")
    assert answer.content_type.startswith("application/openmetrics-text")
    assert answer.body.endswith(b"# EOF\n")


def test_a_refusal_is_json_and_shows_no_metric(registry):
    answer = respond(registry, peer="1.2.3.4")
    assert (answer.status, answer.content_type) == (403, "application/json")
    assert json.loads(answer.body)["error"]["code"] == "forbidden"
    assert b"stand_in" not in answer.body
    assert "WWW-Authenticate" not in answer.headers


def test_with_a_token_its_bearer_reads_under_any_host_and_others_are_challenged(registry, settings):
    settings.METRICS_TOKEN = "scrape-me-0f3a"
    granted = respond(registry, peer="1.2.3.4", Host="metrics.example.com", Authorization="Bearer scrape-me-0f3a")
    assert granted.status == 200
    missing = respond(registry)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    # A repeated Authorization header is joined by the servers: no longer the token.
    assert respond(registry, Authorization="Bearer scrape-me-0f3a,Bearer scrape-me-0f3a").status == 401


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("web:8000", 200),  # a compose service
        ("moderation", 200),
        ("localhost:8000", 200),
        ("10.0.3.7:8000", 200),
        ("127.0.0.1", 200),
        ("[::1]:9101", 200),
        ("chat.example.com", 200),  # in ALLOWED_HOSTS
        ("chat.example.com:8000", 200),
        # A name a web page can have, rebound to this loopback address.
        ("evil.example.com", 403),
        ("evil.example.com:8000", 403),
        ("127.0.0.1.nip.io", 403),
        # Not a host: a repeated Host header, joined with a comma.
        ("web:8000,evil.example.com", 403),
        ("", 403),
    ],
)
def test_without_a_token_only_a_host_no_web_page_can_have_reads(registry, settings, host, status):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    answer = respond(registry, Host=host)
    assert answer.status == status
    if status == 403:
        assert "ALLOWED_HOSTS" in json.loads(answer.body)["error"]["detail"]


def test_a_request_without_a_host_header_is_judged_by_its_address(registry):
    # No browser sends one; an HTTP/1.0 probe may not.
    assert respond(registry).status == 200
    assert respond(registry, peer="1.2.3.4").status == 403


def test_a_meta_key_that_is_no_header_is_not_read_from_the_request(registry, settings):
    settings.RATELIMIT_IP_META_KEY = "REMOTE_ADDR"
    # The client's say is not its address: the peer's stands.
    assert respond(registry, peer="1.2.3.4", Remote_Addr="10.0.0.9").status == 403
    assert respond(registry, peer="10.0.0.2", Remote_Addr="1.2.3.4").status == 200


def test_behind_a_proxy_the_client_it_names_is_judged(registry, settings):
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    assert respond(registry, peer="10.0.0.2", X_Real_IP="10.0.0.9").status == 200
    assert respond(registry, peer="10.0.0.2", X_Real_IP="1.2.3.4").status == 403
    # Repeated, joined with a comma: no single client, whichever comes last.
    assert respond(registry, peer="10.0.0.2", X_Real_IP="1.2.3.4,10.0.0.9").status == 403


def test_a_workers_repeated_headers_are_joined_as_djangos_are():
    message = Message()
    message["X-Forwarded-For"] = "1.2.3.4"
    message["Host"] = "web:8000"
    message["x-forwarded-for"] = ""
    headers = metrics_server.request_headers(message)
    assert headers["X-Forwarded-For"] == "1.2.3.4,"
    assert headers["host"] == "web:8000"
