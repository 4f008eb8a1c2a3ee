"""Whether each outside system answers, asked the same way by `/readyz` and `manage.py doctor`.

Each probe opens a connection of its own with a short timeout, so that a service that hangs
is reported as failed within the timeout instead of hanging the caller."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

import msgspec
from django.db import connections

from echostream.core import kafka, mongo, redis

# Long enough for a loaded machine, short enough for an orchestrator's health check.
DEFAULT_TIMEOUT_SECONDS = 2.0


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    service: str
    ok: bool
    # Empty when ok; otherwise what went wrong, for a person.
    error: str = ""


def _postgres(timeout: float) -> None:
    # A connection of its own, in this (probe) thread, closed after: never one a request holds.
    connection = connections.create_connection("default")
    # A copy to change: the settings dict is shared by every connection of the process, which
    # would all get the probe's short timeout.
    shared = connection.settings_dict
    connection.settings_dict = {**shared, "OPTIONS": dict(shared.get("OPTIONS", {}))}
    try:
        if connection.vendor == "postgresql":
            options = connection.settings_dict["OPTIONS"]
            ms = max(int(timeout * 1000), 1000)
            options["connect_timeout"] = max(int(timeout), 1)
            # A server that accepts the connection and then says nothing must not hold the probe
            # (and its connection) forever: bound the query and the unacknowledged socket too.
            options["tcp_user_timeout"] = ms
            options["options"] = f"{options.get('options', '')} -c statement_timeout={ms}".strip()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def _redis(timeout: float) -> None:
    redis.ping_once(timeout=timeout)


def _mongodb(timeout: float) -> None:
    mongo.ping_once(timeout=timeout)


def _kafka(timeout: float) -> None:
    kafka.ping_once(timeout=timeout)


# The names /readyz and the doctor print. `postgres` is the relational database, whichever
# DATABASE_URL selects.
PROBES: dict[str, Callable[[float], None]] = {
    "kafka": _kafka,
    "redis": _redis,
    "mongodb": _mongodb,
    "postgres": _postgres,
}


def probe(service: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> ProbeResult:
    try:
        PROBES[service](timeout)
    except Exception as exc:
        return ProbeResult(service=service, ok=False, error=f"{type(exc).__name__}: {exc}".strip()[:500])
    return ProbeResult(service=service, ok=True)


def probe_all(*, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> list[ProbeResult]:
    """Every service, probed at once: the whole answer takes about one timeout at worst."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(PROBES), thread_name_prefix="probe")
    futures = {service: pool.submit(probe, service, timeout=timeout) for service in PROBES}
    # Not waiting for a probe whose client ignores its timeout: it is reported, and its thread ends later.
    pool.shutdown(wait=False)
    # Beyond the timeout, a second for the probes' own bookkeeping: within an orchestrator's probe.
    grace = timeout + 1
    results = []
    for service, future in futures.items():
        try:
            results.append(future.result(timeout=grace))
        except concurrent.futures.TimeoutError:
            results.append(ProbeResult(service=service, ok=False, error=f"no answer within {grace:.0f}s"))
    return results
