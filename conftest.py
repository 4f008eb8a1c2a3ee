"""Fixtures shared by every app's tests. The namespace itself is set in tests/testenv.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def services() -> Iterator[None]:
    """The real Kafka, Redis and MongoDB (`make services` starts them); the run's data is removed after."""
    missing = [name for name, port in (("Kafka", 9092), ("Redis", 6379), ("MongoDB", 27017)) if not _answers(port)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not answering: run `make services` (make test starts them itself).")
    yield
    from echostream.core import kafka, mongo, redis

    async def clean() -> None:
        await mongo.drop_database()
        await redis.delete_namespace_keys()
        await mongo.close()
        await redis.client().aclose()

    asyncio.run(clean())
    kafka.delete_namespace_topics()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # Real hashing costs half a second a user; tests that make users need none of it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
