"""A namespace of the doctor tests' own: its topics, consumer groups and MongoDB database start
empty, so that what the doctor finds is what the test made (the run's namespace holds what other
tests left: records no worker consumed, topics of rooms whose rows were rolled back)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from echostream.core import kafka, mongo


@pytest.fixture
def namespace(settings: Any, services: None) -> Iterator[str]:
    settings.ECHOSTREAM_NAMESPACE = f"{settings.ECHOSTREAM_NAMESPACE}-doctor-{uuid.uuid4().hex[:6]}"
    yield settings.ECHOSTREAM_NAMESPACE

    async def drop() -> None:
        await mongo.drop_database()
        await mongo.close()

    asyncio.run(drop())
    kafka.delete_namespace_topics()
