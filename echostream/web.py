"""The web role: daphne, with oversized frames answered by a 1009 close.

Autobahn, under daphne, drops the TCP connection when a frame exceeds the size
limit, which clients see as 1006; PROTOCOL.md promises a close with 1009, which
needs the close handshake instead of the drop.

Daphne pings an idle socket and closes it when no pong comes. Its defaults (a ping
after 20 s idle, 30 s to answer) keep the socket of a client that lost its network
open for up to 50 s, and its user "online" as long; ours notice within the presence
TTL (30 s). Given on the command line, daphne's own flags still win.

An idle socket should cost little memory (docs/performance.md, bench/idle_sockets.py): daphne
and autobahn keep, for the socket's whole life, the HTTP channel and request it was upgraded
from, the raw handshake, and an asyncio.Queue; the classes below let go of the first two and use
a smaller queue.

Its logs are the project's (settings.LOGGING, so JSON lines in production): daphne's access
log, which it would print to stdout in its own format, goes through Python's logging too.
(Twisted's own log daphne drops at the default verbosity, and sends to Python's logging at
`-v 2`.)
"""

import asyncio
import logging
import sys
import time
from functools import partial
from typing import Any, TextIO

import daphne.cli
import daphne.server
from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.web.http import HTTPChannel

from echostream import logs
from echostream.core import frames
from echostream.core.leanqueue import LeanQueue

access_logger = logging.getLogger("daphne.access")


class LeanWebSocketProtocol(WebSocketProtocol):
    """Daphne's socket, without what it keeps of the opening handshake for the socket's life."""

    def connectionMade(self) -> None:
        super().connectionMade()
        # Daphne hands the TCP connection over from its HTTP channel, which stays registered as
        # the transport's producer: that channel and the upgrade request (headers, body buffer)
        # would live as long as the socket, a few KB each. As a producer it does nothing once
        # the request is upgraded (it pauses reading only between requests), so it is let go.
        if isinstance(getattr(self.transport, "producer", None), HTTPChannel):
            self.transport.unregisterProducer()

    def onOpen(self) -> None:
        super().onOpen()
        # Autobahn keeps the raw handshake (request bytes, parsed headers, the response) for its
        # test suite, and the headers again in the request it gave daphne's onConnect; nothing
        # reads them once the socket is open (daphne logs the request's path only).
        self.http_request_data = b""
        self.http_response_data = ""
        self.http_headers = {}
        self.request.headers = {}


class ClosingWebSocketFactory(WebSocketFactory):
    protocol = LeanWebSocketProtocol

    def setProtocolOptions(self, **options: Any) -> None:
        super().setProtocolOptions(failByDrop=False, **options)


class LoggingAccessLog(AccessLogGenerator):
    """Daphne's access log as log records with fields. Only where daphne would print it to
    stdout: a file named with `--access-log` keeps daphne's own format."""

    WEBSOCKET_ACTIONS = {
        "connecting": "WSCONNECTING",
        "connected": "WSCONNECT",
        "rejected": "WSREJECT",
        "disconnected": "WSDISCONNECT",
    }

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.to_logging = stream is sys.stdout

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if not self.to_logging:
            super().__call__(protocol, action, details)
            return
        # The query string is left out: a path's parameters are not the log's business.
        path = str(details.get("path", "")).split("?", 1)[0]
        fields: dict[str, Any] = {"client": details.get("client"), "path": path, "protocol": protocol}
        if protocol == "http" and action == "complete":
            fields |= {"method": details.get("method"), "status": details.get("status"), "size": details.get("size")}
            if isinstance(details.get("time_taken"), int | float):
                fields["duration_ms"] = round(details["time_taken"] * 1000, 1)
            access_logger.info("%s %s %s", fields["method"], path, fields["status"], extra=fields)
        elif protocol == "websocket" and action in self.WEBSOCKET_ACTIONS:
            fields["action"] = action
            access_logger.info("%s %s", self.WEBSOCKET_ACTIONS[action], path, extra=fields)


class ArrivalStampedQueue(LeanQueue[dict[str, Any]]):
    """A socket's queue of ASGI events that stamps each frame received with the moment it came
    in (frames.ARRIVED_AT): a web process that falls behind reads frames seconds after they came,
    which nothing else in the frame shows (the backpressure module acts on it)."""

    __slots__ = ()

    def put_nowait(self, item: dict[str, Any]) -> None:
        if item.get("type") == "websocket.receive":
            item[frames.ARRIVED_AT] = time.monotonic()
        super().put_nowait(item)


class LeanServer(daphne.server.Server):
    def create_application(self, protocol: Any, scope: dict[str, Any]) -> LeanQueue[dict[str, Any]] | None:
        """Daphne's own, with a LeanQueue for the application's events: a socket's queue is empty
        nearly all its life, and an empty asyncio.Queue is about 3 KB (echostream.core.leanqueue).
        It stamps the frames received with their arrival (ArrivalStampedQueue)."""
        assert "application_instance" not in self.connections[protocol]
        input_queue: LeanQueue[dict[str, Any]] = ArrivalStampedQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue


KEEPALIVE_DEFAULTS = ["--ping-interval", "10", "--ping-timeout", "15"]


def main() -> None:
    logs.start("web")
    daphne.cli.AccessLogGenerator = LoggingAccessLog
    daphne.server.WebSocketFactory = ClosingWebSocketFactory
    CommandLineInterface.server_class = LeanServer
    # argparse keeps the last of a repeated flag: these come first so that the caller's win.
    sys.argv[1:1] = KEEPALIVE_DEFAULTS
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
