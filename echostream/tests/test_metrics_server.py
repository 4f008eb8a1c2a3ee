"""A worker's metrics port: /healthz, /readyz (the ops app's answer) and /metrics, in a thread."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from echostream.core import metrics, metrics_server


@pytest.fixture
def port():
    running = metrics_server.serve(role="test", port=_free_port())
    assert running is not None
    yield running.port
    running.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_answers_ok(port):
    response = httpx.get(f"http://127.0.0.1:{port}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.django_db
@pytest.mark.usefixtures("services")
def test_readyz_answers_as_the_webs_does(port):
    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "services": {name: {"ok": True} for name in ("kafka", "redis", "mongodb", "postgres")},
    }


def test_readyz_names_what_does_not_answer(port, monkeypatch):
    monkeypatch.setattr(
        metrics_server,
        "_readiness",
        lambda: (503, {"status": "unavailable", "failed": ["redis"], "services": {"redis": {"ok": False}}}),
    )
    response = httpx.get(f"http://127.0.0.1:{port}/readyz")
    assert (response.status_code, response.json()["failed"]) == (503, ["redis"])


def test_metrics_are_the_processes_own_in_prometheus_text(port):
    metrics.MODERATION_CHECKED.labels(role="test", outcome="allow").inc()
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    checked = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name == "echostream_moderation_checked"
        for sample in family.samples
        if sample.labels["role"] == "test"
    }
    assert checked["allow"] >= 1


def test_metrics_need_the_token_once_one_is_set(port, settings):
    settings.METRICS_TOKEN = "worker-token"
    refused = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    granted = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer worker-token"})
    assert granted.status_code == 200
    # Health checks never need it.
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200


def test_another_path_is_404(port):
    assert httpx.get(f"http://127.0.0.1:{port}/admin/").status_code == 404


def test_a_port_in_use_is_logged_and_the_role_goes_on_without_it(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        number = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING):
            assert metrics_server.serve(role="moderation", port=number) is None
    assert f"moderation: cannot serve /metrics, /healthz and /readyz on 127.0.0.1 port {number}" in caplog.text


def test_port_0_serves_nothing():
    assert metrics_server.serve(role="bridge", port=0) is None


def test_a_metrics_read_under_a_rebinding_host_is_refused(port):
    refused = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": "evil.example.com"})
    assert refused.status_code == 403
    assert httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": "moderation:9101"}).status_code == 200
    # Health checks answer under any name.
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"Host": "evil.example.com"}).status_code == 200


@pytest.mark.parametrize(
    ("setting", "headers"),
    [
        # The last one alone would be inside: all of them count.
        ("HTTP_X_REAL_IP", [("X-Real-IP", "1.2.3.4"), ("X-Real-IP", "10.0.0.9")]),
        # The last one alone would be empty, as if no proxy had relayed it.
        ("", [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "")]),
    ],
)
def test_a_repeated_header_counts_every_time_it_is_sent(port, settings, setting, headers):
    settings.RATELIMIT_IP_META_KEY = setting
    assert httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers).status_code == 403
