"""A worker's own small HTTP port: `/metrics` for Prometheus, and `/healthz` and `/readyz` with
the same answers as the web's, for the health checks of an orchestrator or docker-compose.

The workers (moderation, bridge) serve no HTTP otherwise. The port is a plain-HTTP server in a
thread of its own, so a scrape or a readiness probe never waits for the role's work, nor holds
it up. What `/readyz` checks is registered by the ops app (`register_readiness`), which owns the
probes, so that the roles that start a port need not import it.

No client can hold the port, nor the process's threads and file descriptors: a request must come
whole within TIMEOUT_SECONDS, and at most MAX_CONNECTIONS are served at once (more get a 503).
`/metrics` answers as the web's does, by the same function (echostream.core.metrics.respond).
"""

from __future__ import annotations

import io
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import msgspec
from django.conf import settings
from django.utils.datastructures import CaseInsensitiveMapping

from echostream.core import metrics

logger = logging.getLogger(__name__)

# `/healthz`: the process answers. It asks nothing of any other system.
ALIVE = {"status": "ok"}

Readiness = Callable[[], tuple[int, dict[str, Any]]]
_readiness: Readiness | None = None


def register_readiness(check: Readiness) -> None:
    """Sets what `/readyz` answers: (HTTP status, JSON body)."""
    global _readiness
    _readiness = check


def readiness() -> tuple[int, dict[str, Any]]:
    if _readiness is None:
        return 503, {"status": "unavailable", "failed": [], "services": {}, "detail": "no readiness check registered"}
    return _readiness()


# A request's line and headers must arrive whole within this many seconds, and each write of the
# answer go out within it: a client that sends nothing, trickles its request a byte at a time or
# never reads would otherwise hold a thread and a file descriptor, the worker's Kafka, Redis,
# MongoDB and PostgreSQL sockets' own, for as long as it likes.
TIMEOUT_SECONDS = 5.0
# Requests served at once; more are answered 503 at once. A scrape and a probe or two are all a
# port ever has; the cap keeps clients from taking the process's threads and descriptors.
MAX_CONNECTIONS = 8
# Longer than any request line and headers of a scraper or a probe.
MAX_HEAD_BYTES = 16 * 1024

_BUSY_BODY = msgspec.json.encode({"error": {"code": "unavailable", "detail": "Too many requests at once here."}})
BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)


def _ends_head(head: bytes) -> bool:
    return b"\r\n\r\n" in head or b"\n\n" in head


def request_headers(message: Message) -> CaseInsensitiveMapping:
    """A request's headers, each repeated one once with its values joined by commas, as Django's
    request has them: an access rule that reads them then judges both servers' requests alike
    (a repeated header is present; its joined values are no single address, token or host)."""
    joined: dict[str, list[str]] = {}
    for name, value in message.items():
        joined.setdefault(name.lower(), []).append(value)
    return CaseInsensitiveMapping({name: ",".join(values) for name, values in joined.items()})


class _Handler(BaseHTTPRequestHandler):
    server_version = "echostream-metrics"
    timeout = TIMEOUT_SECONDS
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.connection_timeout
        super().setup()

    def handle(self) -> None:
        # One request a connection (HTTP/1.0), read whole before it is parsed: the socket's
        # timeout alone bounds each read, not a request sent a byte every few seconds.
        head = self._read_head()
        if head is None:
            return
        self.rfile.close()
        self.rfile = io.BytesIO(head)
        self.connection.settimeout(self.timeout)
        self.handle_one_request()

    def _read_head(self) -> bytes | None:
        """The request line and headers, when they all came within the timeout; None (the
        connection is then closed unanswered) when they did not, or were too long."""
        deadline = time.monotonic() + self.timeout
        head = b""
        while not _ends_head(head):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or len(head) > MAX_HEAD_BYTES:
                return None
            self.connection.settimeout(remaining)
            try:
                chunk = self.connection.recv(4096)
            except OSError:  # the timeout, or the client went away
                return None
            if not chunk:
                return None
            head += chunk
        return head

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._json(200, ALIVE)
        elif path == "/readyz":
            self._json(*readiness())
        elif path == "/metrics":
            answer = metrics.respond(peer=self.client_address[0], headers=request_headers(self.headers))
            self._send(answer.status, answer.body, answer.content_type, answer.headers)
        else:
            self._json(404, {"error": {"code": "not_found", "detail": "Only /metrics, /healthz and /readyz."}})

    # The web answers HEAD as GET without the body (Django's require_safe); so does this port.
    do_HEAD = do_GET

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, msgspec.json.encode(body), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # A scrape every few seconds and a health check as often would drown the role's log.
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        connection_timeout: float = TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.connection_timeout = connection_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Handler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answers 503 without waiting for anything, in the accepting thread."""
        request.setblocking(False)
        try:
            # What of the request has come is read first (once: a client that keeps sending must
            # not keep this thread): closing a socket with unread data resets the connection,
            # which would lose the answer on its way.
            request.recv(MAX_HEAD_BYTES)
        except OSError:  # nothing to read yet, or the client is gone
            pass
        try:
            request.send(BUSY)
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print the traceback to stderr, outside the role's (JSON) log.
        error = sys.exception()
        if isinstance(error, (ConnectionError, TimeoutError)):
            # The client went away or stopped reading: theirs, not ours to fix.
            logger.info("metrics port: %s: %s", client_address[0], type(error).__name__)
            return
        logger.warning("metrics port: a request from %s failed", client_address[0], exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """A running metrics port; `close` stops it and frees the port."""

    def __init__(self, server: _Server, role: str) -> None:
        self._server = server
        self.port: int = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name=f"{role}-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(
    *,
    role: str,
    port: int,
    address: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> MetricsServer | None:
    """Starts the role's metrics port (`port` 0: none, by choice); None when there is none.

    A port that cannot be had (in use, not allowed) is logged and the role goes on without it:
    the port only watches the role, and a worker that refused to start over it would stop chat
    for want of a graph. Its health check then fails, which names the problem where it is seen."""
    address = settings.METRICS_BIND_ADDRESS if address is None else address
    if port == 0:
        logger.info("%s: no metrics port (set to 0)", role)
        return None
    server_class = _Server6 if ":" in address else _Server
    try:
        server = server_class((address, port), connection_timeout=timeout, max_connections=max_connections)
    except OSError as exc:
        logger.warning(
            "%s: cannot serve /metrics, /healthz and /readyz on %s port %d (%s); going on without them",
            role, address, port, exc,
        )  # fmt: skip
        return None
    running = MetricsServer(server, role)
    logger.info("%s: /metrics, /healthz and /readyz on http://%s:%d", role, address, running.port)
    return running
