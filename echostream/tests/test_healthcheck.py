"""The containers' health check (`python -m echostream.healthcheck URL`) against a real HTTP
server on the loopback: 200 is healthy; an error, a redirect or silence is not, and says why."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from echostream import healthcheck
from tests.system.stack import free_port

REPO = Path(__file__).resolve().parents[2]


class Answers:
    """What the fake server answers, and the headers of the last request it got."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"ok"
        self.location = ""
        self.seen_headers: dict[str, str] = {}


@pytest.fixture
def server() -> Iterator[tuple[str, Answers]]:
    answers = Answers()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers.seen_headers = dict(self.headers.items())
            self.send_response(answers.status)
            if answers.location:
                self.send_header("Location", answers.location)
            self.send_header("Content-Length", str(len(answers.body)))
            self.end_headers()
            self.wfile.write(answers.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/readyz", answers
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_module(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echostream.healthcheck", url],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_200_is_healthy_as_the_container_runs_it(server):
    url, _ = server
    done = run_module(url)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_503_is_unhealthy_and_names_what_readyz_said(server):
    url, answers = server
    answers.status, answers.body = 503, b'{"status": "unavailable", "failed": ["mongodb"]}'
    done = run_module(url)
    assert done.returncode == 1
    assert "503" in done.stdout
    assert "mongodb" in done.stdout


def test_a_redirect_is_not_followed_and_says_which_setting_to_fix(server):
    url, answers = server
    answers.status, answers.location = 301, "https://chat.example.com/readyz"
    problem = healthcheck.check(url, environ={})
    assert problem is not None
    assert "https://chat.example.com/readyz" in problem
    assert "SECURE_PROXY_SSL_HEADER" in problem


def test_nothing_listening_is_unhealthy():
    port = free_port()  # nothing listens there
    problem = healthcheck.check(f"http://127.0.0.1:{port}/readyz", environ={}, timeout=2)
    assert problem is not None
    assert "did not answer" in problem


def test_the_request_carries_an_allowed_host_and_the_proxy_header(server):
    url, answers = server
    environ = {
        "ALLOWED_HOSTS": " .example.com,chat.example.org",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    }
    assert healthcheck.check(url, environ=environ) is None
    assert answers.seen_headers["Host"] == "example.com"
    assert answers.seen_headers["X-Forwarded-Proto"] == "https"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {}),
        ({"ALLOWED_HOSTS": "*"}, {}),
        ({"ALLOWED_HOSTS": "*,chat.example.com"}, {"Host": "chat.example.com"}),
        ({"ALLOWED_HOSTS": "127.0.0.1,localhost"}, {"Host": "127.0.0.1"}),
        ({"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_SSL,on"}, {"X-Forwarded-Ssl": "on"}),
        ({"SECURE_PROXY_SSL_HEADER": ""}, {}),
    ],
)
def test_request_headers_follow_the_settings(environ, expected):
    assert healthcheck.request_headers(environ) == expected


def test_a_wrong_call_is_a_usage_error():
    assert healthcheck.main([]) == 2
