"""Django's database sessions, with the key from the cookie checked for what the database takes."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        # A cookie may hold any text, and PostgreSQL answers a NUL in a query with an error (a 500,
        # a failed socket handshake), not a miss: such a key is no session, as a short one is.
        return bool(super()._validate_session_key(key)) and "\x00" not in (key or "")
