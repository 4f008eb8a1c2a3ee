"""The web role: daphne, with oversized frames answered by a 1009 close.

Autobahn, under daphne, drops the TCP connection when a frame exceeds the size
limit, which clients see as 1006; PROTOCOL.md promises a close with 1009, which
needs the close handshake instead of the drop.

Daphne pings an idle socket and closes it when no pong comes. Its defaults (a ping
after 20 s idle, 30 s to answer) keep the socket of a client that lost its network
open for up to 50 s, and its user "online" as long; ours notice within the presence
TTL (30 s). Given on the command line, daphne's own flags still win.

Its logs are the project's (settings.LOGGING, so JSON lines in production): daphne's access
log, which it would print to stdout in its own format, goes through Python's logging too.
(Twisted's own log daphne drops at the default verbosity, and sends to Python's logging at
`-v 2`.)
"""

import logging
import sys
from typing import Any, TextIO

import daphne.cli
import daphne.server
from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory

from echostream import logs

access_logger = logging.getLogger("daphne.access")


class ClosingWebSocketFactory(WebSocketFactory):
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


KEEPALIVE_DEFAULTS = ["--ping-interval", "10", "--ping-timeout", "15"]


def main() -> None:
    logs.start("web")
    daphne.cli.AccessLogGenerator = LoggingAccessLog
    daphne.server.WebSocketFactory = ClosingWebSocketFactory
    # argparse keeps the last of a repeated flag: these come first so that the caller's win.
    sys.argv[1:1] = KEEPALIVE_DEFAULTS
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
