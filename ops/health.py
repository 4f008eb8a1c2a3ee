"""The readiness answer, the same from the web's `/readyz` and each worker's metrics port."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings

from echostream.redaction import redacted
from ops import probes

# An error is for a person glancing at a health check, not a traceback.
MAX_ERROR_CHARS = 200


def public_error(error: str) -> str:
    """A probe's error fit to show: secrets masked (echostream.redaction), the length bounded."""
    error = redacted(error)
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


# /readyz opens a connection to each service, and anyone who reaches the port may call it: a flood
# of calls must not become a flood of connections (PostgreSQL's are few). One round of probes at a
# time, per process, and its answer serves every call for a second.
FRESH_SECONDS = 1.0
_round = threading.Lock()
_last: tuple[float, tuple[str, ...], tuple[int, dict[str, Any]]] | None = None


def _services_named() -> tuple[str, ...]:
    # An answer holds for the services the settings name now (tests point them elsewhere).
    database = settings.DATABASES["default"]
    return (
        settings.KAFKA_BOOTSTRAP_SERVERS,
        settings.REDIS_URL,
        settings.MONGODB_URI,
        str(database.get("HOST")),
        str(database.get("PORT")),
        str(database.get("NAME")),
    )


def readiness(*, timeout: float = probes.DEFAULT_TIMEOUT_SECONDS) -> tuple[int, dict[str, Any]]:
    """(200 or 503, the body): whether every outside system answers, and which do not."""
    global _last
    with _round:
        named = _services_named()
        if _last is not None and _last[1] == named and time.monotonic() - _last[0] < FRESH_SECONDS:
            return _last[2]
        answer = _probe_every_service(timeout)
        _last = (time.monotonic(), named, answer)
        return answer


def _probe_every_service(timeout: float) -> tuple[int, dict[str, Any]]:
    results = probes.probe_all(timeout=timeout)
    services: dict[str, dict[str, Any]] = {}
    for result in results:
        services[result.service] = {"ok": True} if result.ok else {"ok": False, "error": public_error(result.error)}
    failed = [result.service for result in results if not result.ok]
    if failed:
        return 503, {"status": "unavailable", "failed": failed, "services": services}
    return 200, {"status": "ready", "services": services}


def without_errors(body: dict[str, Any]) -> dict[str, Any]:
    """The answer for a caller outside the deployment's network: which services fail, not how
    (an error names internal hosts and ports)."""
    return {**body, "services": {name: {"ok": state["ok"]} for name, state in body["services"].items()}}
