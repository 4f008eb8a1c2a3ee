"""Secrets taken out of text meant for people: log lines, /readyz answers, the doctor's report.

One rule for all three, so that a password hidden in one place is hidden in every place."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from django.conf import settings

MASK = "***"

# `scheme://user:password@host`: the password runs to the LAST `@` before the host's `/` or the end
# of the word, so a password holding an unescaped `@` is masked whole rather than in part.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/?#@\s\"']*):[^/\s]*@", re.I)


def _url_password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


def configured_secrets() -> list[str]:
    """The passwords and tokens the settings hold, which a client's error may repeat as they are."""
    if not settings.configured:
        return []
    found = [
        settings.DATABASES.get("default", {}).get("PASSWORD") or "",
        _url_password(getattr(settings, "REDIS_URL", "")),
        _url_password(getattr(settings, "MONGODB_URI", "")),
        getattr(settings, "METRICS_TOKEN", "") or "",
    ]
    # The longest first: a secret that contains another is replaced whole.
    return sorted({secret for secret in found if len(secret) >= 3}, key=len, reverse=True)


def redacted(text: str) -> str:
    """`text` with the password of any URL in it, and every configured secret, masked."""
    text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    for secret in configured_secrets():
        text = text.replace(secret, MASK)
    return text


def url_for_people(url: str) -> str:
    """A service's URL to print: its password masked and its query (which may carry credentials) left out."""
    return redacted(url).split("?", 1)[0]
