"""The web role: daphne, with oversized frames answered by a 1009 close.

Autobahn, under daphne, drops the TCP connection when a frame exceeds the size
limit, which clients see as 1006; PROTOCOL.md promises a close with 1009, which
needs the close handshake instead of the drop.

Daphne pings an idle socket and closes it when no pong comes. Its defaults (a ping
after 20 s idle, 30 s to answer) keep the socket of a client that lost its network
open for up to 50 s, and its user "online" as long; ours notice within the presence
TTL (30 s). Given on the command line, daphne's own flags still win.
"""

import sys
from typing import Any

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory


class ClosingWebSocketFactory(WebSocketFactory):
    def setProtocolOptions(self, **options: Any) -> None:
        super().setProtocolOptions(failByDrop=False, **options)


KEEPALIVE_DEFAULTS = ["--ping-interval", "10", "--ping-timeout", "15"]


def main() -> None:
    daphne.server.WebSocketFactory = ClosingWebSocketFactory
    # argparse keeps the last of a repeated flag: these come first so that the caller's win.
    sys.argv[1:1] = KEEPALIVE_DEFAULTS
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
