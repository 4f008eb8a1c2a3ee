"""The settings the benchmarks run the roles with: as deployed (DEBUG off, which also keeps
Django from holding the text of every query), over plain http to 127.0.0.1."""

from __future__ import annotations

import os
import uuid


def as_deployed() -> None:
    """Defaults for the environment the roles inherit; what the caller set first wins."""
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", uuid.uuid4().hex * 2)
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        os.environ.setdefault(name, "false")
