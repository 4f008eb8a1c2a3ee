from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.system.client import ChatClient
from tests.system.stack import Stack


@pytest.fixture(scope="session")
def stack(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """web, moderation and bridge, started from the Procfile against the real services."""
    running = Stack(Path(tmp_path_factory.mktemp("stack")))
    try:
        running.migrate()
        for role in ("web", "moderation", "bridge"):
            running.start(role)
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture
async def clients(stack: Stack) -> AsyncIterator[Callable[[str], Awaitable[ChatClient]]]:
    """Makes signed-up, connected clients (`await clients("alice")`), closed after the test."""
    made: list[ChatClient] = []

    async def make(name: str) -> ChatClient:
        client = ChatClient(stack.base_url)
        await client.signup(f"{name}{uuid.uuid4().hex[:8]}")
        await client.connect()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
