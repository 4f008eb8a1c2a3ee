"""A worker's own small HTTP port: `/metrics` for Prometheus, and `/healthz` and `/readyz` with
the same answers as the web's, for the health checks of an orchestrator or docker-compose.

The workers (moderation, bridge) serve no HTTP otherwise. The port is a plain-HTTP server in a
thread of its own, so a scrape or a readiness probe never waits for the role's work, nor holds
it up. What `/readyz` checks is registered by the ops app (`register_readiness`), which owns the
probes, so that the roles that start a port need not import it.
"""

from __future__ import annotations

import logging
import socket
import threading
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
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # A scrape every few seconds and a health check as often would drown the role's log.
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True


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


def serve(*, role: str, port: int, address: str | None = None) -> MetricsServer | None:
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
        server = server_class((address, port), _Handler)
    except OSError as exc:
        logger.warning(
            "%s: cannot serve /metrics, /healthz and /readyz on %s port %d (%s); going on without them",
            role, address, port, exc,
        )  # fmt: skip
        return None
    running = MetricsServer(server, role)
    logger.info("%s: /metrics, /healthz and /readyz on http://%s:%d", role, address, running.port)
    return running
