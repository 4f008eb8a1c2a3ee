"""PostgreSQL databases of their own for tests that run processes (a Stack's roles, `manage.py`
commands): made on the server the configured DATABASE_URL names, dropped after."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import environ
import psycopg

# OPTIONS that Django reads itself rather than passing to libpq.
DJANGO_ONLY_OPTIONS = {"isolation_level", "assume_role", "server_side_binding", "pool"}


def database_server(url: str | None = None) -> dict[str, Any]:
    """Django's connection settings for the server a DATABASE_URL names (the settings' own when
    None); only its ENGINE, HOST, PORT, USER, PASSWORD and OPTIONS matter here."""
    if url:
        return environ.Env.db_url_config(url)
    from django.conf import settings

    return dict(settings.DATABASES["default"])


def is_postgres(server: dict[str, Any]) -> bool:
    return server["ENGINE"] == "django.db.backends.postgresql"


def connect_to_server(server: dict[str, Any]) -> psycopg.Connection:
    """A connection to the maintenance database of a PostgreSQL server, for CREATE and DROP DATABASE."""
    options = {k: v for k, v in server.get("OPTIONS", {}).items() if k not in DJANGO_ONLY_OPTIONS}
    return psycopg.connect(
        host=server["HOST"],
        port=server["PORT"] or 5432,
        user=server["USER"],
        password=server["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
        **{"connect_timeout": 10, **options},
    )


def database_url(server: dict[str, Any], name: str) -> str:
    """The DATABASE_URL of database `name` on that server."""
    auth = quote(server["USER"], safe="") + (f":{quote(server['PASSWORD'], safe='')}" if server["PASSWORD"] else "")
    options = f"?{urlencode(server['OPTIONS'])}" if server.get("OPTIONS") else ""
    return f"postgres://{auth}@{server['HOST']}:{server['PORT'] or 5432}/{name}{options}"


def new_database_name(namespace: str | None = None) -> str:
    """Named after the run's namespace, so that a leftover one says whose it was; the random
    suffix keeps apart two of one namespace. PostgreSQL names have at most 63 bytes."""
    namespace = namespace or os.environ.get("ECHOSTREAM_NAMESPACE", "echostream")
    return f"{re.sub(r'[^a-z0-9_]', '_', namespace.lower())[:50]}_{uuid.uuid4().hex[:8]}"


def create_database(server: dict[str, Any], name: str) -> None:
    with connect_to_server(server) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(server: dict[str, Any], name: str) -> None:
    with connect_to_server(server) as connection:
        # FORCE: a process killed mid-test may have left a session behind (PostgreSQL 13+).
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(server: dict[str, Any] | None = None) -> Iterator[str]:
    """An empty database on the server (the configured one by default), for the length of the
    block; its DATABASE_URL."""
    server = server or database_server()
    name = new_database_name()
    create_database(server, name)
    try:
        yield database_url(server, name)
    finally:
        drop_database(server, name)
