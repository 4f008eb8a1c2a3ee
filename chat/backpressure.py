"""Backpressure: slow senders down while the pipeline runs late, before the channel layer
has to drop live frames.

Two signals. The first: a send that waited longer than BACKPRESSURE_MAX_WAIT_SECONDS in its web
process before it was read (`retry_after(waited=...)`), when the web itself is behind.

The second, how late the pipeline's consumers take their records: the moderation worker and the
bridge's fan-out each measure, per batch, the time since Kafka appended its oldest record. When
that exceeds BACKPRESSURE_MAX_LAG_SECONDS, the consumer records it in Redis for
BACKPRESSURE_WINDOW_SECONDS; while the record lives, sends are refused with `rate_limited` and a
`retry_after`. Nothing counts up or down, so nothing can drift: the record is a fresh measurement
that expires by itself once the consumers keep up again.

The time is the broker's (the topics keep `message.timestamp.type=LogAppendTime`), never one a
record states: a record dated years ago, written straight to a topic, made the bridge think the
pipeline that late and refused every sender on the site (docs/security.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from echostream.core import events, redis


def _key() -> str:
    return redis.key("backpressure", "late")


def _lateness(appended_at: datetime) -> float:
    return (events.now() - appended_at).total_seconds()


def is_late(*, appended_at: datetime) -> bool:
    """Whether a record Kafka appended then is taken late now (cheap: no Redis)."""
    return _lateness(appended_at) > settings.BACKPRESSURE_MAX_LAG_SECONDS


async def note_taken(*, appended_at: datetime) -> None:
    """A consumer of the pipeline takes a batch whose oldest record Kafka appended at
    `appended_at`. Called before the batch is acted on, so that a member who reads a late frame
    cannot send before the record is there."""
    lateness = _lateness(appended_at)
    if lateness <= settings.BACKPRESSURE_MAX_LAG_SECONDS:
        return
    window_ms = max(1, int(settings.BACKPRESSURE_WINDOW_SECONDS * 1000))
    await redis.client().set(_key(), f"{lateness:.3f}", px=window_ms)


@dataclass
class _Reading:
    # When this process last read the record (time.monotonic), and until when it then lived.
    read_at: float = -math.inf
    until: float | None = None


# Every send asks, so each process reads the record once per BACKPRESSURE_READ_SECONDS, which
# costs senders at most that long before they are slowed, and the send path a Redis round trip.
_last = _Reading()


async def retry_after(*, waited: float = 0.0) -> float | None:
    """Seconds a sender should wait while the pipeline runs late; None when it keeps up.

    `waited`: how long the send waited in its web process before it was read. One that waited
    past BACKPRESSURE_MAX_WAIT_SECONDS shows that this web is behind, which the bridge cannot see
    (it measures from the moment the web read the send): it is refused too, at once and cheaply,
    so that the web catches up rather than acknowledging every send a minute late."""
    if waited > settings.BACKPRESSURE_MAX_WAIT_SECONDS:
        return _told(settings.BACKPRESSURE_WINDOW_SECONDS)
    now = time.monotonic()
    if now - _last.read_at >= settings.BACKPRESSURE_READ_SECONDS:
        # The first to ask reads; the sends that come meanwhile go by the reading before.
        _last.read_at = now
        remaining_ms = await redis.client().pttl(_key())
        now = time.monotonic()
        # No record (-2), or none with an expiry (-1), which this module never writes.
        _last.read_at, _last.until = now, now + remaining_ms / 1000 if remaining_ms and remaining_ms > 0 else None
    if _last.until is None or _last.until <= now:
        return None
    return _told(_last.until - now)


def _told(seconds: float) -> float:
    # Tenths of a second, and never 0: a sender told 0 would send again at once.
    return round(max(seconds, 0.1), 1)
