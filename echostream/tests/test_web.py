"""The web role's socket (echostream.web.LeanWebSocketProtocol) under a real uvicorn server: it
goes on reading, and so answering the keepalive, while its application is behind, up to a bound."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from echostream import web
from echostream.core import frames
from tests.system.stack import free_port

pytestmark = pytest.mark.django_db(transaction=False, databases=[])

PING_INTERVAL_SECONDS = 0.2
PING_TIMEOUT_SECONDS = 0.5


class BehindApp:
    """An ASGI application that accepts a socket and then takes none of its frames until told to,
    as a web process far behind its sockets does."""

    LAST = "last"

    def __init__(self) -> None:
        self.catch_up = asyncio.Event()
        self.received: list[dict[str, Any]] = []
        self.got_last = asyncio.Event()

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        assert scope["type"] == "websocket"
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await self.catch_up.wait()
        while (event := await receive())["type"] == "websocket.receive":
            self.received.append(event)
            if event.get("text") == self.LAST:
                self.got_last.set()


@contextlib.asynccontextmanager
async def serving(app: BehindApp) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws=web.LeanWebSocketProtocol,
        ws_ping_interval=PING_INTERVAL_SECONDS,
        ws_ping_timeout=PING_TIMEOUT_SECONDS,
        lifespan="off",
        log_config=None,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    serve = asyncio.create_task(server.serve())
    # uvicorn.Server tells that it has started only by this flag.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/ws/"
    finally:
        app.catch_up.set()
        server.should_exit = True
        await serve


@pytest.fixture
def app() -> BehindApp:
    return BehindApp()


async def test_a_socket_whose_application_is_behind_still_answers_the_keepalive(app):
    async with serving(app) as url, websockets.connect(url, ping_interval=None) as client:
        for n in range(20):
            await client.send(f"frame {n}")
        # Several ping timeouts pass with the application taking nothing.
        await asyncio.sleep(6 * PING_TIMEOUT_SECONDS)
        await client.send(app.LAST)
        app.catch_up.set()
        await asyncio.wait_for(app.got_last.wait(), timeout=10)
    assert [event["text"] for event in app.received] == [f"frame {n}" for n in range(20)] + [app.LAST]
    assert all(isinstance(event[frames.ARRIVED_AT], float) for event in app.received)


@pytest.mark.parametrize(
    ("bound", "frames_sent"),
    [(("UNREAD_LIMIT_CHARACTERS", 1000), ["x" * 1000]), (("UNREAD_LIMIT_FRAMES", 5), ["{}"] * 5)],
    ids=["characters", "frames"],
)
async def test_a_socket_stops_being_read_once_its_unread_frames_pass_a_bound(app, monkeypatch, bound, frames_sent):
    monkeypatch.setattr(web, *bound)
    async with serving(app) as url, websockets.connect(url, ping_interval=None) as client:
        for frame in frames_sent:
            await client.send(frame)
        # Unread, the pongs are not seen either: the keepalive closes the socket.
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), timeout=20 * PING_TIMEOUT_SECONDS)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
