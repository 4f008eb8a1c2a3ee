"""Fixtures shared by every app's tests. The namespace itself is set in tests/testenv.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest


def _answers(address: tuple[str, int]) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(address) == 0


def _address(url: str, default_port: int) -> tuple[str, int]:
    """The first host and port of a service URL (or of Kafka's `host:port,...` list)."""
    first = url.split("//", 1)[-1].split("/", 1)[0].split(",")[0].rsplit("@", 1)[-1]
    host, _, port = first.rpartition(":") if ":" in first else (first, "", "")
    return host or "127.0.0.1", int(port or default_port)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The system tests' roles (a session fixture) consume this run's topics under this run's
    # consumer groups: they start after every in-process bridge and worker test, so that none
    # shares a group with them. A stable sort keeps every other order as it was.
    items.sort(key=lambda item: item.nodeid.startswith("tests/system/"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """pytest-django's hook before it makes the test database: first, a PostgreSQL that does not
    answer is reported with what to do, rather than as a connection error in the first test."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        address = (database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432))
        if not _answers(address):
            pytest.fail(
                f"PostgreSQL ({address[0]}:{address[1]}) not answering: run `make services` "
                "(or scripts/services.sh up postgres), or point DATABASE_URL at a server; make test starts it itself."
            )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, which it drops after this teardown: the async tests' ORM
    calls ran in asgiref's sync thread, whose connection is still open, and PostgreSQL drops no
    database that a session still uses (the test database would be left behind)."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(scope="session")
def services() -> Iterator[None]:
    """The real Kafka, Redis and MongoDB that the settings name (`make services` starts them on the
    default ports); the run's data is removed after."""
    from django.conf import settings

    addresses = {
        "Kafka": _address(settings.KAFKA_BOOTSTRAP_SERVERS, 9092),
        "Redis": _address(settings.REDIS_URL, 6379),
        "MongoDB": _address(settings.MONGODB_URI, 27017),
    }
    missing = [f"{name} ({host}:{port})" for name, (host, port) in addresses.items() if not _answers((host, port))]
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


@pytest.fixture
def kafka_unreachable(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Kafka clients made from here on point at a closed port (Kafka itself keeps running for
    the other tests): the dead-letter topic and producer are made again, and again after."""
    from echostream.core import kafka
    from tests.system.stack import free_port

    port = free_port()  # nothing listens there
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{port}"
    monkeypatch.setattr(kafka, "_deadletter_topics_made", set(), raising=False)
    kafka._admin.cache_clear()
    kafka._deadletter_producer.cache_clear()
    yield
    kafka._admin.cache_clear()
    kafka._deadletter_producer.cache_clear()


@pytest.fixture
def redis_pipelines(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[Any, ...]]]:
    """The commands (their arguments) of each Redis pipeline sent during the test, in order, from
    async and blocking clients alike: what went in one round trip."""
    from redis import client as blocking
    from redis.asyncio import client as asynchronous

    sent: list[list[tuple[Any, ...]]] = []
    execute_async = asynchronous.Pipeline.execute
    execute_blocking = blocking.Pipeline.execute

    async def recorded_async(self: asynchronous.Pipeline, *args: Any, **kwargs: Any) -> Any:
        sent.append([command for command, _ in self.command_stack])
        return await execute_async(self, *args, **kwargs)

    def recorded_blocking(self: blocking.Pipeline, *args: Any, **kwargs: Any) -> Any:
        sent.append([command for command, _ in self.command_stack])
        return execute_blocking(self, *args, **kwargs)

    monkeypatch.setattr(asynchronous.Pipeline, "execute", recorded_async)
    monkeypatch.setattr(blocking.Pipeline, "execute", recorded_blocking)
    return sent
