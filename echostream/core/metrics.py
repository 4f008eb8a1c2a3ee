"""What each role counts for Prometheus, and who may read it.

Every metric is named `echostream_...` and carries a `role` label: the part of EchoStream that
counted it (`web`, `moderation`, `bridge-fanout`, `bridge-store`, the names the logs and dead
letters use too). Each process exposes only what it counted itself: a label's child is made at
its first use, so a web process shows no moderation samples, only the families' HELP and TYPE.
The web serves them at `/metrics`, each worker on its metrics port (echostream.core.metrics_server).

On the hot paths a call here is a counter increment or a histogram observation: a label lookup
and a lock, nothing that waits.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import msgspec
import prometheus_client
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

# Each counter would otherwise come with an `_created` series of its own: twice the samples for
# a timestamp nobody graphs.
prometheus_client.disable_created_metrics()

WEB = "web"

MESSAGES_IN = Counter(
    "echostream_messages_in", "message.send frames accepted: Kafka has them and message.ack went back.", ["role"]
)
MESSAGES_OUT = Counter(
    "echostream_messages_out",
    "Live room-event frames (`type`: message.new, message.updated) pushed to sockets.",
    ["role", "type"],
)
SEND_ACK_SECONDS = Histogram(
    "echostream_send_ack_seconds",
    "From a message.send frame received to its message.ack sent (Kafka's acknowledgement included).",
    ["role"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENT_DELIVERY_SECONDS = Histogram(
    "echostream_event_delivery_seconds",
    "From a room event's occurred_at (when the web took the send) to its frame pushed to a socket.",
    ["role"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
CONNECTED_SOCKETS = Gauge("echostream_connected_sockets", "Signed-in WebSockets open on this process.", ["role"])
REJECTIONS = Counter(
    "echostream_rejections",
    "Frames refused, by the reason of the message.rejected or the code of the error frame.",
    ["role", "reason"],
)
DEAD_LETTERS = Counter(
    "echostream_dead_letters", "Records put on the dead-letter topic (Kafka acknowledged them).", ["role"]
)
BRIDGE_EVENTS_APPLIED = Counter(
    "echostream_bridge_events_applied",
    "Room-topic records a bridge half finished: shown (bridge-fanout) or stored (bridge-store), repeats included.",
    ["role"],
)
MODERATION_CHECKED = Counter(
    "echostream_moderation_checked",
    "Inbound events judged, by outcome: allow, censor, flag (published and reported) or reject.",
    ["role", "outcome"],
)


def declare_web_series() -> None:
    """The web's series, at zero from the start: a dashboard or an alert on `rate()` sees 0 sockets
    and 0 messages rather than no data before the first socket connects."""
    for metric in (MESSAGES_IN, SEND_ACK_SECONDS, EVENT_DELIVERY_SECONDS, CONNECTED_SOCKETS):
        metric.labels(role=WEB)
    for frame_type in ("message.new", "message.updated"):
        MESSAGES_OUT.labels(role=WEB, type=frame_type)


def message_accepted(*, seconds: float) -> None:
    """The web acknowledged a send `seconds` after its frame came in."""
    MESSAGES_IN.labels(role=WEB).inc()
    SEND_ACK_SECONDS.labels(role=WEB).observe(seconds)


def frame_delivered(*, frame_type: str, occurred_at: float | None = None) -> None:
    """The web pushed a live room-event frame to a socket; `occurred_at` is its event's time
    (epoch seconds) when the channel layer carried it."""
    _web_frames_out(frame_type).inc()
    if occurred_at is not None:
        # The event was stamped by another process, maybe on another host: a clock behind ours
        # must not make a negative latency.
        _web_event_delivery().observe(max(time.time() - occurred_at, 0.0))


# Once per frame per member: the children are looked up once, not at every call (`labels` checks
# its arguments and takes a lock each time), and still made at their first use.
@cache
def _web_frames_out(frame_type: str) -> Counter:
    return MESSAGES_OUT.labels(role=WEB, type=frame_type)


@cache
def _web_event_delivery() -> Histogram:
    return EVENT_DELIVERY_SECONDS.labels(role=WEB)


def refused(*, role: str, reason: str) -> None:
    REJECTIONS.labels(role=role, reason=reason).inc()


# --- Who may read the metrics, and what they read --------------------------------------------

# Loopback and the private ranges (RFC 1918, IPv6 unique local): where a scraper inside the
# deployment's network comes from. Python's `is_private` also takes in documentation and
# reserved ranges, which no scraper uses.
_INSIDE = tuple(
    ipaddress.ip_network(network)
    for network in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7")
)
# Headers a proxy adds: a request carrying one was relayed for a client whose address we don't see.
_RELAY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

NOT_ALLOWED = "Not allowed to read the metrics."
HOST_NOT_ALLOWED = (
    "Not allowed to read the metrics under this Host: name the server by its address, a name without "
    "dots or one of ALLOWED_HOSTS, or set METRICS_TOKEN."
)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a `/metrics` request is answered, for whichever HTTP server took it (the web's view or
    a worker's port): both then only write it out."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _inside(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _INSIDE)


def _host_allowed(host: str | None) -> bool:
    """Whether a request without the token may be answered under this Host header.

    A web page can make the operator's browser read a loopback port under a name of the page's
    (DNS rebinding: the name resolves to the page's server, then to 127.0.0.1), and the browser
    then counts the answer as the page's own. Such a name has dots and is not ours; an IP
    literal or a name without dots (`localhost`, a compose service such as `web`) is no name a
    page on the Internet can have. No Host at all is no browser's request either."""
    if host is None:
        return True
    domain, _port = split_domain_port(host)
    if not domain:
        # Not a host (a repeated header, joined with a comma, is not one either).
        return False
    try:
        ipaddress.ip_address(domain.removeprefix("[").removesuffix("]"))
    except ValueError:
        return "." not in domain or validate_host(domain, settings.ALLOWED_HOSTS)
    return True


def _client_header() -> str | None:
    """The header that names the client behind the proxy (RATELIMIT_IP_META_KEY), if it names one.

    Any other META key (`REMOTE_ADDR`) is the peer's address, which we have: read as a header, it
    would be the client's say (`Remote-Addr: 10.0.0.9`) in place of the address it comes from."""
    key = settings.RATELIMIT_IP_META_KEY
    if not key.startswith("HTTP_") or key == "HTTP_":
        return None
    return key.removeprefix("HTTP_").replace("_", "-")


def _refusal(*, peer: str, headers: Mapping[str, str]) -> tuple[int, str] | None:
    """Why a request may not read the metrics, as (HTTP status, detail); None when it may.

    With METRICS_TOKEN set, only `Authorization: Bearer <token>` counts, from any address and
    under any Host (401 otherwise). Without it, only loopback and private addresses may read (403
    otherwise), under a Host that no web page can have (`_host_allowed`), and not through a proxy:
    a proxy in front of the web would make every visitor look local. Behind a proxy that names
    the client in RATELIMIT_IP_META_KEY's header, the client's address must be inside too.

    `headers` are looked up case-insensitively, and hold each repeated header once, its values
    joined with commas, as Django's `request.headers` (and metrics_server.request_headers) do: a
    repeated header is then present, and no single address, token or host (refused)."""
    token = settings.METRICS_TOKEN
    if token:
        given = headers.get("Authorization") or ""
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode()):
            return None
        return 401, NOT_ALLOWED
    if not _inside(peer):
        return 403, NOT_ALLOWED
    if not _host_allowed(headers.get("Host")):
        return 403, HOST_NOT_ALLOWED
    client_header = _client_header()
    if client_header and headers.get(client_header):
        return None if _inside(headers[client_header]) else (403, NOT_ALLOWED)
    if any(headers.get(name) for name in _RELAY_HEADERS):
        return 403, NOT_ALLOWED
    return None


def may_read(*, peer: str, headers: Mapping[str, str]) -> bool:
    """Whether the caller may read the metrics, and so the details of a failed readiness check."""
    return _refusal(peer=peer, headers=headers) is None


def respond(*, peer: str, headers: Mapping[str, str], registry: CollectorRegistry = REGISTRY) -> Answer:
    """The answer to a `/metrics` request from `peer` (the address the connection comes from)
    with these request headers: `registry`'s metrics in the format the scraper accepts
    (Prometheus text or OpenMetrics), or a JSON refusal.

    Each process shows the default registry (its own counters); the web passes a registry of its
    own that adds the consumer lag (ops.metrics), which echostream.core does not know of. It may
    ask Kafka: call this off the event loop."""
    refusal = _refusal(peer=peer, headers=headers)
    if refusal is not None:
        status, detail = refusal
        body = msgspec.json.encode({"error": {"code": "forbidden", "detail": detail}})
        challenge = {"WWW-Authenticate": 'Bearer realm="metrics"'} if status == 401 else {}
        return Answer(status, "application/json", body, challenge)
    encoder, content_type = choose_encoder(headers.get("Accept") or "")
    return Answer(200, content_type, encoder(registry))
