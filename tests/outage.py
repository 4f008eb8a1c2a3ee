"""MongoDB made unreachable for this process only, never by stopping the shared server."""

from __future__ import annotations

import asyncio
import contextlib

from echostream.core import mongo


class MongoOutage:
    """A port in front of the real MongoDB that refuses every connection until `end()`, then
    forwards them until `begin()` cuts them all: MongoDB unreachable, and back, without
    touching the shared server."""

    def __init__(self) -> None:
        self.refused = 0
        self._open = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def uri(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"mongodb://127.0.0.1:{port}/?directConnection=true"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    def end(self) -> None:
        self._open = True

    def begin(self) -> None:
        self._open = False
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            self.refused += 1
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", 27017)
        self._writers.update((writer, upstream_writer))
        for source, target in ((reader, upstream_writer), (upstream_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, target))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                target.write(data)
                await target.drain()
        target.close()

    async def close(self) -> None:
        await mongo.close()  # the client of the outage's port, before the port goes
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
