"""/healthz, /readyz and /metrics in-process: what they answer, against the real services, and who
may read the metrics."""

from __future__ import annotations

import asyncio

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import Client
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families

from ops import health, probes
from ops import metrics as ops_metrics
from tests.system.stack import free_port

SERVICES = ["kafka", "redis", "mongodb", "postgres"]


def test_healthz_answers_ok_without_asking_any_other_system(client, monkeypatch):
    def no_calls(*args, **kwargs):
        raise AssertionError("/healthz asked another system")

    monkeypatch.setattr(probes, "probe_all", no_calls)
    monkeypatch.setattr(probes, "probe", no_calls)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not response.cookies


def test_probes_are_not_redirected_to_https_nor_need_a_csrf_token(settings):
    settings.SECURE_SSL_REDIRECT = True
    plain = Client(enforce_csrf_checks=True)  # made after the setting: its middleware reads it
    assert plain.get("/api/me/").status_code == 301  # the redirect is on
    assert plain.get("/healthz").status_code == 200
    # Another method is refused as such, not as a CSRF failure.
    assert plain.post("/healthz").status_code == 405


@pytest.mark.django_db
@pytest.mark.usefixtures("services")
def test_readyz_is_200_naming_every_service_when_all_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ready", "services": {name: {"ok": True} for name in SERVICES}}
    assert not response.cookies


@pytest.mark.django_db
@pytest.mark.usefixtures("services")
@pytest.mark.parametrize(
    ("setting", "value", "service"),
    [
        ("REDIS_URL", "redis://:s3cret-pass@127.0.0.1:{port}/0", "redis"),
        ("MONGODB_URI", "mongodb://user:s3cret-pass@127.0.0.1:{port}/", "mongodb"),
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:{port}", "kafka"),
    ],
)
def test_readyz_is_503_naming_the_service_that_does_not_answer_and_no_password(
    client, settings, setting, value, service
):
    setattr(settings, setting, value.format(port=free_port()))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failed"]) == ("unavailable", [service])
    assert body["services"][service]["ok"] is False
    assert body["services"][service]["error"]
    assert all(body["services"][name] == {"ok": True} for name in SERVICES if name != service)
    assert "s3cret-pass" not in response.content.decode()


def test_a_readiness_error_keeps_no_credentials(settings):
    settings.REDIS_URL = "redis://default:hunter22@cache.internal:6379/0"
    error = "ConnectionError: cannot reach redis://default:hunter22@cache.internal:6379/0 (auth hunter22)"
    shown = health.public_error(error)
    assert "hunter22" not in shown
    assert shown.startswith("ConnectionError: cannot reach redis://default:***@cache.internal:6379/0")


@pytest.mark.django_db
@pytest.mark.usefixtures("services")
def test_readyz_tells_a_caller_outside_the_network_which_service_fails_but_not_how(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    inside = client.get("/readyz").json()
    outside = client.get("/readyz", REMOTE_ADDR="203.0.113.9")
    assert outside.status_code == 503
    assert outside.json()["failed"] == inside["failed"] == ["redis"]
    assert inside["services"]["redis"]["error"]
    assert outside.json()["services"]["redis"] == {"ok": False}


def test_a_flood_of_readiness_calls_probes_once_a_second(monkeypatch):
    rounds = []

    def probe_all(*, timeout):
        rounds.append(timeout)
        return [probes.ProbeResult(service=name, ok=True) for name in SERVICES]

    monkeypatch.setattr(probes, "probe_all", probe_all)
    monkeypatch.setattr(health, "_last", None)
    answers = [health.readiness() for _ in range(50)]
    assert len(rounds) == 1
    assert {status for status, _ in answers} == {200}
    monkeypatch.setattr(health, "FRESH_SECONDS", 0.0)
    health.readiness()
    assert len(rounds) == 2


@pytest.mark.usefixtures("services")
def test_metrics_are_prometheus_text_with_every_echostream_family(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family.type for family in text_string_to_metric_families(response.content.decode())}
    assert (
        families
        | {
            "echostream_messages_in": "counter",
            "echostream_messages_out": "counter",
            "echostream_send_ack_seconds": "histogram",
            "echostream_event_delivery_seconds": "histogram",
            "echostream_connected_sockets": "gauge",
            "echostream_rejections": "counter",
            "echostream_dead_letters": "counter",
            "echostream_bridge_events_applied": "counter",
            "echostream_moderation_checked": "counter",
            "echostream_consumer_lag_records": "gauge",
        }
        == families
    )


@pytest.mark.usefixtures("services")
def test_metrics_speak_openmetrics_to_a_scraper_that_asks_for_it(client):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


@pytest.fixture
def no_exposition(monkeypatch):
    # The access rule alone: the metrics' content (and Kafka, for the lag) is another test's.
    registry = CollectorRegistry()
    Gauge("stand_in", "The access tests' only metric.", registry=registry)
    monkeypatch.setattr(ops_metrics, "WEB_REGISTRY", registry)


@pytest.mark.usefixtures("no_exposition")
@pytest.mark.parametrize(
    ("remote", "headers", "status"),
    [
        ("127.0.0.1", {}, 200),
        ("10.1.2.3", {}, 200),
        ("192.168.0.7", {}, 200),
        ("::1", {}, 200),
        ("1.2.3.4", {}, 403),
        ("203.0.113.9", {}, 403),  # documentation range: "private" to Python, not a scraper's
        # A proxy on this machine relays a visitor: local to us, but not a local reader.
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "1.2.3.4"}, 403),
        ("127.0.0.1", {"HTTP_FORWARDED": "for=1.2.3.4"}, 403),
    ],
)
def test_without_a_token_only_loopback_and_private_addresses_read_the_metrics(client, remote, headers, status):
    assert client.get("/metrics", REMOTE_ADDR=remote, **headers).status_code == status


@pytest.mark.usefixtures("no_exposition")
def test_behind_a_proxy_that_names_the_client_that_client_is_judged(client, settings):
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="10.0.0.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="1.2.3.4").status_code == 403
    # Not through the proxy: a header claiming to be inside does not make an outside peer so.
    assert client.get("/metrics", REMOTE_ADDR="1.2.3.4", HTTP_X_REAL_IP="10.0.0.9").status_code == 403


@pytest.mark.usefixtures("no_exposition")
def test_a_meta_key_that_names_no_header_leaves_the_peers_address_to_judge(client, settings):
    settings.RATELIMIT_IP_META_KEY = "REMOTE_ADDR"
    # `Remote-Addr: 10.0.0.9` is the client's say, not the address it comes from.
    assert client.get("/metrics", REMOTE_ADDR="1.2.3.4", HTTP_REMOTE_ADDR="10.0.0.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_REMOTE_ADDR="1.2.3.4").status_code == 200


@pytest.mark.usefixtures("no_exposition")
@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("web:8000", 200),
        ("10.0.3.7:8000", 200),
        ("localhost:8000", 200),
        ("127.0.0.1:8000", 200),  # in ALLOWED_HOSTS, and an address
        # A page's own name, rebound to 127.0.0.1: the operator's browser must not read for it.
        ("evil.example.com", 403),
        ("evil.example.com:8000", 403),
    ],
)
def test_without_a_token_a_rebinding_host_does_not_read_the_metrics(client, host, status):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_HOST=host)
    assert response.status_code == status
    assert (b"stand_in" in response.content) == (status == 200)
    # Liveness answers under any Host: it tells nothing a page could use.
    assert client.get("/healthz", REMOTE_ADDR="127.0.0.1", HTTP_HOST=host).status_code == 200


@pytest.mark.usefixtures("no_exposition")
@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_head_answers_as_get(client, path):
    response = client.head(path)
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.usefixtures("no_exposition")
async def test_a_repeated_client_header_is_no_single_client(settings):
    # Through the ASGI handler as daphne calls it: Django's test clients take one value per header.
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"

    async def status(*headers: tuple[bytes, bytes]) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/metrics",
            "raw_path": b"/metrics",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"web:8000"), *headers],
            "client": ("10.0.0.2", 40000),
            "server": ("10.0.0.5", 8000),
        }
        sent: list[dict] = []
        requests = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict:
            if requests:
                return requests.pop()
            # The client stays connected: Django stops listening once it has answered.
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict) -> None:
            sent.append(message)

        await ASGIHandler()(scope, receive, send)
        return sent[0]["status"]

    assert await status((b"x-real-ip", b"10.0.0.9")) == 200
    assert await status((b"x-real-ip", b"1.2.3.4"), (b"x-real-ip", b"10.0.0.9")) == 403


@pytest.mark.usefixtures("no_exposition")
def test_with_a_token_set_only_its_bearer_reads_the_metrics_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "scrape-me-0f3a"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic scrape-me-0f3a").status_code == 401
    # Under any Host: a page cannot send the token.
    granted = client.get(
        "/metrics", REMOTE_ADDR="1.2.3.4", HTTP_HOST="metrics.example.net", HTTP_AUTHORIZATION="Bearer scrape-me-0f3a"
    )
    assert granted.status_code == 200
    assert b"stand_in 0.0" in granted.content


@pytest.mark.django_db
@pytest.mark.usefixtures("services")
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_whatever_host_the_orchestrator_names(client, path):
    # A probe names the container (its address or service name), which ALLOWED_HOSTS does not list.
    assert client.get("/api/auth/csrf/", HTTP_HOST="10.0.3.7:8000").status_code == 400
    response = client.get(path, HTTP_HOST="10.0.3.7:8000")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] in ("ok", "ready")


def test_a_scrape_naming_the_web_container_reads_the_metrics(client):
    response = client.get("/metrics", HTTP_HOST="web:8000")
    assert response.status_code == 200
    assert b"echostream_messages_in_total" in response.content
