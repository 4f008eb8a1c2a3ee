"""A worker's metrics port: /healthz, /readyz (the ops app's answer) and /metrics, in a thread."""

from __future__ import annotations

import logging
import select
import socket
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from echostream.core import metrics, metrics_server
from tests.system.stack import free_port


@pytest.fixture
def port():
    running = metrics_server.serve(role="test", port=free_port())
    assert running is not None
    yield running.port
    running.close()


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


# --- What no client may do to the port --------------------------------------------------------

# Far longer than the short timeouts the tests set: a slow machine is no failure, a port that
# never lets go is.
GENEROUS = 10.0


@pytest.fixture
def short_port():
    """A port that waits 0.5 s for a request and serves 2 at once."""
    running = metrics_server.serve(role="test", port=free_port(), timeout=0.5, max_connections=2)
    assert running is not None
    yield running.port
    running.close()


def _connect(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port))
    client.settimeout(GENEROUS)
    return client


def _read_all(client: socket.socket) -> bytes:
    """What the server sent until it closed the connection (a reset counts as closed)."""
    received = b""
    try:
        while chunk := client.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _raw(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with _connect(port) as client:
        client.sendall(request)
        head, _, body = _read_all(client).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status_line, headers, body


def test_a_client_that_sends_nothing_is_cut_off_after_the_timeout(short_port):
    with _connect(short_port) as idle:
        # socket.timeout here (after GENEROUS seconds) would be a port that waits forever.
        assert _read_all(idle) == b""


def test_a_client_that_trickles_its_request_is_cut_off_unanswered(short_port):
    request = b"GET /healthz HTTP/1.0\r\nX-Padding: " + b"a" * 1000
    give_up = time.monotonic() + GENEROUS
    with _connect(short_port) as slow:
        # A byte every 0.1 s: each well within the timeout, the whole request never.
        for byte in request:
            if time.monotonic() > give_up:
                pytest.fail(f"the port was still reading a request trickled for {GENEROUS} s")
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([slow], [], [], 0.1)
            if readable:
                break
        assert _read_all(slow) == b""


def test_more_clients_than_the_cap_get_503_and_the_port_serves_again_once_they_are_cut(short_port):
    idle = [_connect(short_port) for _ in range(5)]  # 2 hold the slots, 3 more are turned away
    try:
        refused = httpx.get(f"http://127.0.0.1:{short_port}/healthz", timeout=GENEROUS)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "unavailable"
        for client in idle:
            _read_all(client)  # every one closed: the 3 over the cap at once, the 2 after the timeout
        assert httpx.get(f"http://127.0.0.1:{short_port}/healthz", timeout=GENEROUS).status_code == 200
    finally:
        for client in idle:
            client.close()


def test_a_finished_request_gives_its_slot_back(short_port):
    # Twice the cap, one after another: none is turned away.
    statuses = [httpx.get(f"http://127.0.0.1:{short_port}/healthz").status_code for _ in range(4)]
    assert statuses == [200] * 4


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_head_answers_as_get_without_the_body(port, path):
    get_status, get_headers, get_body = _raw(port, f"GET {path} HTTP/1.0\r\n\r\n".encode())
    head_status, head_headers, head_body = _raw(port, f"HEAD {path} HTTP/1.0\r\n\r\n".encode())
    assert head_status == get_status == "HTTP/1.0 200 OK"
    assert head_headers["content-type"] == get_headers["content-type"]
    assert int(head_headers["content-length"]) > 0
    assert get_body and head_body == b""


def test_a_failing_request_is_logged_not_printed(port, monkeypatch, caplog, capfd):
    def broken():
        raise RuntimeError("readiness exploded")

    monkeypatch.setattr(metrics_server, "_readiness", broken)
    with caplog.at_level(logging.WARNING, logger="echostream.core.metrics_server"):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=GENEROUS)
    (record,) = [record for record in caplog.records if record.name == "echostream.core.metrics_server"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None and "readiness exploded" in str(record.exc_info[1])
    assert "Traceback" not in capfd.readouterr().err


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
