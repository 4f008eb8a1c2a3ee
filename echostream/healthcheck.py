"""`python -m echostream.healthcheck URL`: exit 0 when URL answers 200, else 1 with why.

The containers' health check (docker-compose.yml): the python:3.11-slim image has no curl, and
a plain urllib call is not enough for the web role, whose /readyz is a Django view:

- Django answers 400 to a Host it does not allow, and the operator's ALLOWED_HOSTS need not
  name 127.0.0.1, so the request carries the first host ALLOWED_HOSTS names;
- with SECURE_SSL_REDIRECT on (behind a TLS proxy) a plain-http request is redirected, so the
  request carries the header SECURE_PROXY_SSL_HEADER names, as the proxy would; a redirect is
  never followed (it would leave the container) and counts as a failure that says so.

It imports nothing of Django, so that it stays cheap enough to run every few seconds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

TIMEOUT_SECONDS = 5.0
# Enough of a failed answer to name the failed service (/readyz says it in its body).
BODY_SHOWN_CHARS = 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def request_headers(environ: Mapping[str, str]) -> dict[str, str]:
    """The headers that make the request one the settings in `environ` accept."""
    headers: dict[str, str] = {}
    for host in environ.get("ALLOWED_HOSTS", "").split(","):
        # "*" matches anything, so the default Host does; ".example.com" matches example.com.
        host = host.strip().lstrip(".")
        if host and host != "*":
            headers["Host"] = host
            break
    # "HTTP_X_FORWARDED_PROTO,https" (settings.SECURE_PROXY_SSL_HEADER) → X-Forwarded-Proto: https
    meta_key, _, value = environ.get("SECURE_PROXY_SSL_HEADER", "").partition(",")
    meta_key = meta_key.strip()
    if meta_key.startswith("HTTP_") and value.strip():
        headers[meta_key.removeprefix("HTTP_").replace("_", "-").title()] = value.strip()
    return headers


def check(url: str, *, environ: Mapping[str, str], timeout: float = TIMEOUT_SECONDS) -> str | None:
    """None when `url` answers 200; otherwise what went wrong, for a person."""
    opener = urllib.request.build_opener(_NoRedirects())
    request = urllib.request.Request(url, headers=request_headers(environ))
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status == 200:
                return None
            return f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        body = error.read(BODY_SHOWN_CHARS).decode("utf-8", "replace").strip()
        if 300 <= error.code < 400:
            return (
                f"{url} redirected to {error.headers.get('Location')!r}: behind a TLS proxy set "
                "SECURE_PROXY_SSL_HEADER, or turn SECURE_SSL_REDIRECT off"
            )
        return f"{url} answered {error.code}: {body}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url} did not answer: {getattr(error, 'reason', error)}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m echostream.healthcheck URL", file=sys.stderr)
        return 2
    problem = check(args[0], environ=os.environ)
    if problem is None:
        return 0
    print(problem)
    return 1


if __name__ == "__main__":
    sys.exit(main())
