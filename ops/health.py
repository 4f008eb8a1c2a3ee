"""The readiness answer, the same from the web's `/readyz` and each worker's metrics port."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from ops import probes

# Short enough for an orchestrator's probe (the answer comes within this and the probes' grace).
READINESS_TIMEOUT_SECONDS = 2.0
# An error is for a person glancing at a health check, not a traceback.
MAX_ERROR_CHARS = 200

# The user and password part of a URL (`scheme://user:password@host`).
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


def _secrets() -> list[str]:
    """Passwords the settings hold, which a client's error message might repeat."""
    found = [settings.DATABASES["default"].get("PASSWORD") or ""]
    for url in (settings.REDIS_URL, settings.MONGODB_URI):
        try:
            found.append(urlsplit(url).password or "")
        except ValueError:
            continue
    return [secret for secret in found if secret]


def public_error(error: str) -> str:
    """A probe's error fit to show anyone who can reach `/readyz`: the exception's class and
    message, with the credentials of any URL in it, and any configured password, taken out."""
    error = _USERINFO.sub("***@", error)
    for secret in _secrets():
        error = error.replace(secret, "***")
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


def readiness(*, timeout: float = READINESS_TIMEOUT_SECONDS) -> tuple[int, dict[str, Any]]:
    """(200 or 503, the body): whether every outside system answers, and which do not."""
    results = probes.probe_all(timeout=timeout)
    services: dict[str, dict[str, Any]] = {}
    for result in results:
        services[result.service] = {"ok": True} if result.ok else {"ok": False, "error": public_error(result.error)}
    failed = [result.service for result in results if not result.ok]
    if failed:
        return 503, {"status": "unavailable", "failed": failed, "services": services}
    return 200, {"status": "ready", "services": services}
