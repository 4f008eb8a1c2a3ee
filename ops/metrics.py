"""What the web's `/metrics` shows: its own counters (echostream.core.metrics) and the lag of
EchoStream's consumer groups, read from Kafka's admin API at most every few seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from echostream.core import kafka

logger = logging.getLogger(__name__)

# Scrapes within this share one look at Kafka: several scrapers (or a fast one) cost Kafka a few
# admin requests every few seconds, whatever they do.
LAG_CACHE_SECONDS = 5.0
# A scrape that waits longer than this for Kafka answers without the lag instead.
LAG_TIMEOUT_SECONDS = 3.0

LAG_NAME = "echostream_consumer_lag_records"
LAG_HELP = "Records in a consumer group's topics that the group has not committed as done."


class ConsumerLagCollector:
    """`echostream_consumer_lag_records{group, role}`, one sample per consumer group."""

    def __init__(
        self,
        *,
        source: Callable[..., list[kafka.GroupLag]] = kafka.consumer_group_lags,
        cache_seconds: float = LAG_CACHE_SECONDS,
        timeout: float = LAG_TIMEOUT_SECONDS,
    ) -> None:
        self._source = source
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._lock = threading.Lock()
        self._lags: list[kafka.GroupLag] = []
        self._read_at: float | None = None

    def _current(self) -> list[kafka.GroupLag]:
        # One scrape asks Kafka; the others meanwhile wait for its answer rather than ask too.
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self._cache_seconds:
                try:
                    self._lags = self._source(timeout=self._timeout)
                except Exception as exc:
                    # Kafka down: the other metrics still count; the lag is absent (not a stale value).
                    logger.warning("consumer lag unknown: %s: %s", type(exc).__name__, exc)
                    self._lags = []
                # A failure is kept as long as an answer: a Kafka that is down is not asked per scrape.
                self._read_at = now
            return self._lags

    def describe(self) -> Iterator[Metric]:
        # Named without asking Kafka, so that registering the collector asks nothing.
        yield GaugeMetricFamily(LAG_NAME, LAG_HELP, labels=["group", "role"])

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(LAG_NAME, LAG_HELP, labels=["group", "role"])
        for lag in self._current():
            gauge.add_metric([lag.group, lag.role], lag.lag)
        yield gauge


class _ProcessMetrics:
    """The process's default registry, as one collector of another registry."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def _web_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_ProcessMetrics())
    registry.register(ConsumerLagCollector())
    return registry


# What the web's /metrics shows (ops.views.metrics hands it to echostream.core.metrics.respond).
# Only the web shows the lag: it is the same from every process, and one role asking Kafka is enough.
WEB_REGISTRY = _web_registry()
