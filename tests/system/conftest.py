from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.stack import Stack


@pytest.fixture(scope="session")
def stack(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """web, moderation and bridge, started from the Procfile against the real services."""
    running = Stack(Path(tmp_path_factory.mktemp("stack")))
    running.migrate()
    for role in ("web", "moderation", "bridge"):
        running.start(role)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
