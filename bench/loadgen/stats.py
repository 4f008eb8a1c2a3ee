"""The figures of one step, and when a step counts as saturated."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.loadgen.clients import Step
    from bench.loadgen.plan import Plan

# A step is saturated when the system no longer keeps up with what is offered: a tail this slow,
# fewer deliveries a second than this share of the offered ones, any copy lost or only recovered
# after the drain, or a send refused.
SATURATED_P99_MS = 1000.0
SATURATED_DELIVERY_SHARE = 0.95


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: a value that was measured, never an interpolation between two."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def by_second(step: Step) -> list[dict[str, float]]:
    """Latency of the copies by the second of the step their message was sent in (p50, p99 and
    how many), to find when in a step a tail grew."""
    seconds: dict[int, list[float]] = {}
    for message in step.messages:
        if message.sent_at is None:
            continue
        second = int(message.sent_at - step.started)
        seconds.setdefault(second, []).extend(1000 * (at - message.sent_at) for at in message.arrivals.values())
    series = []
    for second, latencies in sorted(seconds.items()):
        latencies.sort()
        series.append(
            {
                "second": second,
                "copies": len(latencies),
                "p50_ms": round(percentile(latencies, 50), 1),
                "p99_ms": round(percentile(latencies, 99), 1),
            }
        )
    return series


@dataclass
class StepResult:
    system: str
    label: str  # "sweep", "sustained" or "overload"
    rate: float
    duration: float
    sent: int
    acked: int | None
    expected: int  # deliveries owed: every member but the sender, of every message sent (baseline) or acked
    received: int
    loss: int
    acked_lost_messages: int | None  # acked messages that missed at least one member
    acked_lost_deliveries: int | None
    rate_limited: int | None  # rate_limited answers, retries included
    refused: int | None  # messages finally refused (any reason, or rate_limited past the retry window)
    unanswered: int | None  # sends that got neither an ack nor a refusal
    duplicates: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    deliveries_per_s: float
    offered_deliveries_per_s: float
    generator_lag_p99_ms: float
    gaps: int | None = None  # gaps the clients saw and repaired with resume (EchoStream)
    recovered: int | None = None  # copies not shown live within the drain, fetched by a resume after it
    acked_lost_stored: int | None = None  # of the acked-lost copies, those whose message the history shows
    still_arriving: bool = False  # the drain ended at its limit with copies still coming: missing may be late
    sockets_closed: int = 0  # sockets that ended during the step (the server closed them: clients never do)
    series: list[dict[str, float]] = field(default_factory=list)  # by_second(), in bench/results/load.json
    hops: dict[str, dict[str, float]] | None = None  # bench.loadgen.hops.breakdown() (EchoStream, one rate)

    @property
    def saturated(self) -> bool:
        return bool(
            math.isnan(self.p99_ms)
            or self.p99_ms > SATURATED_P99_MS
            or self.deliveries_per_s < SATURATED_DELIVERY_SHARE * self.offered_deliveries_per_s
            or self.loss > 0
            or (self.refused or 0) > 0
            or (self.rate_limited or 0) > 0
            or (self.recovered or 0) > 0
            or self.sockets_closed > 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saturated": self.saturated}


def summarize(system: str, step: Step, plan: Plan, *, acknowledges: bool) -> StepResult:
    latencies: list[float] = []
    acks: list[float] = []
    expected = received = acked = acked_lost_messages = acked_lost_deliveries = 0
    rate_limited = refused = unanswered = 0
    first_arrival, last_arrival = math.inf, -math.inf
    for message in step.messages:
        owed = len(plan.rooms[message.room]) - 1
        assert message.sent_at is not None
        for arrived in message.arrivals.values():
            latencies.append((arrived - message.sent_at) * 1000)
            first_arrival, last_arrival = min(first_arrival, arrived), max(last_arrival, arrived)
        rate_limited += message.rate_limited
        if acknowledges:
            if message.acked_at is not None:
                acked += 1
                acks.append((message.acked_at - message.sent_at) * 1000)
                missing = owed - len(message.arrivals)
                acked_lost_deliveries += max(0, missing)
                acked_lost_messages += missing > 0
            elif message.refused is not None:
                refused += 1
            else:
                unanswered += 1
            if message.acked_at is None:
                continue  # not owed to anyone: its sender was told (refused) or is still waiting
        expected += owed
        received += min(owed, len(message.arrivals))
    latencies.sort()
    acks.sort()
    # Over the span of the arrivals: a system that keeps up spreads them over the step's length,
    # one that falls behind over longer. (From the first send, a constant latency would count against it.)
    count = len(step.messages)
    spread = max(last_arrival - first_arrival, step.duration * (count - 1) / count, 1e-3)
    lags = sorted(message.lag * 1000 for message in step.messages)
    return StepResult(
        system=system,
        label="sweep",
        rate=step.rate,
        duration=step.duration,
        sent=len(step.messages),
        acked=acked if acknowledges else None,
        expected=expected,
        received=received,
        loss=expected - received,
        acked_lost_messages=acked_lost_messages if acknowledges else None,
        acked_lost_deliveries=acked_lost_deliveries if acknowledges else None,
        rate_limited=rate_limited if acknowledges else None,
        refused=refused if acknowledges else None,
        unanswered=unanswered if acknowledges else None,
        duplicates=step.duplicates,
        errors=step.errors,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else math.nan,
        ack_p50_ms=percentile(acks, 50) if acknowledges else None,
        ack_p99_ms=percentile(acks, 99) if acknowledges else None,
        deliveries_per_s=len(latencies) / spread,
        offered_deliveries_per_s=sum(len(plan.rooms[m.room]) - 1 for m in step.messages) / step.duration,
        generator_lag_p99_ms=percentile(lags, 99),
    )
