"""The WebSocket door's Origin rule: a browser page may open an authenticated socket only
from the site itself or from an origin the deployment trusts.

Channels' AllowedHostsOriginValidator compares host names only, so a page on another
port of the same host (another app, a dev server) would ride the user's session
cookie. Here an origin is (scheme, host, port), compared whole, as browsers define it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(text: str) -> Origin | None:
    """(scheme, host, port) of an origin such as `http://example.com:8000`; None if it is not one."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key.lower() == name]
    # Two Origin (or Host) headers: which one the browser meant is unknowable.
    return values[0].decode("latin1") if len(values) == 1 else None


def _is_secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    # Behind a proxy that ends TLS, the deployment names the header that says so, as for HTTP.
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, value = proxy_header
        header = name.lower().removeprefix("http_").replace("_", "-").encode("latin1")
        return _header(scope, header) == value
    return False


def _allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return list(settings.ALLOWED_HOSTS)


def own_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin of the site the socket was opened on: its Host header (one of
    ALLOWED_HOSTS, so that a DNS-rebound name is no origin of ours) and its scheme."""
    host = _header(scope, b"host")
    if host is None:
        return None
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    return parse_origin(f"{'https' if _is_secure(scope) else 'http'}://{host}")


def _trusted(origin: Origin) -> bool:
    scheme, host, port = origin
    for pattern in settings.CSRF_TRUSTED_ORIGINS:
        # Django allows a leading `*.` for subdomains in CSRF_TRUSTED_ORIGINS; so does this.
        wildcard = "://*." in pattern
        trusted = parse_origin(pattern.replace("://*.", "://", 1))
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and host.endswith("." + trusted[1])):
            return True
    return False


def is_allowed(scope: dict[str, Any]) -> bool:
    """Whether the socket's Origin is the site's own or a trusted one; a socket without
    a single usable Origin header is refused (browsers always send one)."""
    header = _header(scope, b"origin")
    origin = parse_origin(header) if header is not None else None
    if origin is None:
        return False
    return origin == own_origin(scope) or _trusted(origin)


class OriginValidator:
    """ASGI middleware: refuses the handshake (403) of a socket from another origin."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not is_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
