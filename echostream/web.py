"""The web role: daphne, with oversized frames answered by a 1009 close.

Autobahn, under daphne, drops the TCP connection when a frame exceeds the size
limit, which clients see as 1006; PROTOCOL.md promises a close with 1009, which
needs the close handshake instead of the drop.
"""

from typing import Any

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory


class ClosingWebSocketFactory(WebSocketFactory):
    def setProtocolOptions(self, **options: Any) -> None:
        super().setProtocolOptions(failByDrop=False, **options)


def main() -> None:
    daphne.server.WebSocketFactory = ClosingWebSocketFactory
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
