"""The web role: uvicorn, with uvloop, httptools and websockets' Sans-I/O protocol.

Measured against daphne in `make bench` (docs/decisions.md, "The web role runs on uvicorn"),
it carries the same load with lower latency and holds a higher rate.

What the contract and the operators need of it, set here rather than on each command line:

- A frame over the hard limit (`WEBSOCKET_HARD_LIMIT_BYTES`) closes the socket with 1009, as
  PROTOCOL.md promises; below it, the consumer answers frames over `WEBSOCKET_MAX_FRAME_BYTES`
  with `message.rejected` (`too_large`) and keeps the socket.
- The server pings an idle socket every 10 s and closes it when no pong comes within 15 s, so a
  client that lost its network is noticed within the presence TTL (30 s).
- `X-Forwarded-For` is not believed (no proxy is assumed): the throttles count by the peer.
- Its logs are the project's (settings.LOGGING, so JSON lines in production): uvicorn does not
  configure logging, and its access lines become records with fields, without the query string.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.utils import get_client_addr
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from echostream import logs
from echostream.core import frames
from echostream.core.leanqueue import LeanQueue

# Named, not __name__: run as `python -m echostream.web`, this module is __main__.
logger = logging.getLogger("echostream.web")

APP = "echostream.asgi:application"
# The largest frame the server reads at all; PROTOCOL.md: bigger ones are closed with 1009.
WEBSOCKET_HARD_LIMIT_BYTES = 1024 * 1024
PING_INTERVAL_SECONDS = 10.0
PING_TIMEOUT_SECONDS = 15.0
# On SIGTERM, sockets are closed (1012) at once; requests under way get this long to finish.
GRACEFUL_SHUTDOWN_SECONDS = 10
# How much a socket's frames may wait for its application before the server stops reading it:
# their text, and their number (each queued frame costs a few hundred bytes beyond its text).
UNREAD_LIMIT_CHARACTERS = WEBSOCKET_HARD_LIMIT_BYTES
UNREAD_LIMIT_FRAMES = 1000

_WEBSOCKET_LINE = re.compile(r'^%s - "WebSocket %s" (?P<outcome>.+)$')


def _path(full_path: object) -> str:
    # The query string is left out: a path's parameters are not the log's business.
    return str(full_path).split("?", 1)[0]


class AccessRecords(logging.Filter):
    """uvicorn's access lines (`uvicorn.access`) and socket lines (`uvicorn.error`) as records with
    fields and without the query string; its other lines pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.name == "uvicorn.access" and len(args) == 5:
            client, method, full_path, _, status = args
            path = _path(full_path)
            fields: dict[str, Any] = {"client": client, "method": method, "path": path, "status": status}
            record.msg, record.args = "%s %s %s", (method, path, status)
        elif (websocket := _WEBSOCKET_LINE.match(str(record.msg))) and len(args) == 2:
            client, full_path = args
            path = _path(full_path)
            outcome = websocket["outcome"]
            action = "connected" if outcome == "[accepted]" else "rejected"
            fields = {"client": client, "path": path, "action": action, "protocol": "websocket"}
            record.name = "uvicorn.access"
            record.msg, record.args = "%s %s", ("WSCONNECT" if action == "connected" else "WSREJECT", path)
        else:
            return True
        record.__dict__.update(fields)
        return True


class ArrivalStampedQueue(LeanQueue[dict[str, Any]]):
    """A socket's queue of ASGI events that stamps each frame received with the moment it came
    in (frames.ARRIVED_AT): a web process that falls behind reads frames seconds after they came,
    which nothing else in the frame shows (the backpressure module acts on it). It counts the
    characters of the frames that wait (`unread`), which bounds how much a socket may queue."""

    __slots__ = ("unread",)

    def __init__(self) -> None:
        super().__init__()
        self.unread = 0

    def put_nowait(self, item: dict[str, Any]) -> None:
        if item.get("type") == "websocket.receive":
            item[frames.ARRIVED_AT] = time.monotonic()
            self.unread += _size(item)
        super().put_nowait(item)

    def get_nowait(self) -> dict[str, Any]:
        item = super().get_nowait()
        if item.get("type") == "websocket.receive":
            self.unread -= _size(item)
        return item


def _size(event: dict[str, Any]) -> int:
    return len(event.get("text") or event.get("bytes") or "")


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's socket with a LeanQueue for the application's events (a socket's queue is empty
    nearly all its life, and an empty asyncio.Queue is about 3 KB: echostream.core.leanqueue)
    that stamps each frame with its arrival (ArrivalStampedQueue), that goes on reading while its
    application is behind, and without websockets' debug lines."""

    queue: ArrivalStampedQueue

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ArrivalStampedQueue()  # type: ignore[assignment]
        # websockets logs the handshake's headers (the session cookie) and every frame (messages'
        # text) at DEBUG on uvicorn's logger: never, whatever the log level.
        self.conn.debug = False

    def send_receive_event_to_app(self) -> None:
        # uvicorn stops reading a socket after each frame until the application has taken all
        # that wait, and its keepalive's pong is then not read either. A web process more than
        # the ping timeout behind closed live sockets with 1011 (at 1,200 msg/s, those of the 12
        # busiest users). Reading goes on until UNREAD_LIMIT_CHARACTERS or UNREAD_LIMIT_FRAMES
        # wait; the frames read late are answered by backpressure (ARRIVED_AT), the pongs keep
        # the socket.
        was_paused, self.read_paused = self.read_paused, True  # uvicorn's own pause, skipped
        super().send_receive_event_to_app()
        self.read_paused = was_paused
        if not was_paused and (
            self.queue.unread >= UNREAD_LIMIT_CHARACTERS or self.queue.qsize() >= UNREAD_LIMIT_FRAMES
        ):
            self.read_paused = True
            self.transport.pause_reading()

    def keepalive_timeout(self) -> None:
        # uvicorn says this only at its TRACE level; an operator wants to see sockets it closed.
        logger.info(
            "closing a socket whose client did not answer a ping within %g s",
            self.ping_timeout,
            extra={"client": get_client_addr(self.scope)},
        )
        super().keepalive_timeout()


class Server(uvicorn.Server):
    """uvicorn's server, which exits with status 0 once a SIGTERM or SIGINT has stopped it
    gracefully, as the workers do (uvicorn's own raises the signal again once stopped, so that
    the process dies of it): honcho, a supervisor or a test then sees a clean stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-b", "--bind", "--host", dest="host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("app", nargs="?", default=APP)
    args = parser.parse_args(argv)
    logs.start("web")
    access = AccessRecords()
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(access)
    config = uvicorn.Config(
        args.app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=LeanWebSocketProtocol,
        # Compression would keep a zlib compressor and decompressor per socket (tens of KB), and
        # chat frames are small.
        ws_per_message_deflate=False,
        ws_max_size=WEBSOCKET_HARD_LIMIT_BYTES,
        ws_ping_interval=PING_INTERVAL_SECONDS,
        ws_ping_timeout=PING_TIMEOUT_SECONDS,
        proxy_headers=False,
        server_header=False,
        lifespan="off",
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    Server(config).run()


if __name__ == "__main__":
    main()
