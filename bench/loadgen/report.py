"""The results as a markdown page and a plot."""

from __future__ import annotations

import math
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.loadgen.stats import SATURATED_DELIVERY_SHARE, SATURATED_P99_MS, StepResult


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        # Other work on the machine shows here: the figures are only as quiet as the machine was.
        "load average at the start (1, 5, 15 min)": load,
    }


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _late(r: StepResult, missing: int | None) -> str:
    return " late*" if r.still_arriving and missing else ""


def _lost(r: StepResult) -> str:
    if r.acked_lost_deliveries is None:
        return "-"
    late = _late(r, r.acked_lost_deliveries)
    if r.acked_lost_stored is None:
        return f"{r.acked_lost_deliveries}{late}"
    return f"{r.acked_lost_deliveries} ({r.acked_lost_stored}){late}"


def _ratio(a: float, b: float | None) -> str:
    if b is None or math.isnan(a) or math.isnan(b) or b <= 0:
        return "n/a"
    return f"{a / b:.1f}x"


def table(results: list[StepResult]) -> str:
    lines = [
        "| system | run | msg/s | s | sent | acked | p50 ms | p95 ms | p99 ms | max ms | ack p99 ms"
        " | deliveries/s (offered) | lost | acked-lost (of which stored) | recovered | rate_limited | refused | gaps"
        " | sockets closed | saturated |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.system} | {r.label} | {r.rate:g} | {r.duration:g} | {r.sent} | {_n(r.acked)} | {_ms(r.p50_ms)}"
            f" | {_ms(r.p95_ms)} | {_ms(r.p99_ms)} | {_ms(r.max_ms)} | {_ms(r.ack_p99_ms)}"
            f" | {r.deliveries_per_s:.0f} ({r.offered_deliveries_per_s:.0f}) | {r.loss}{_late(r, r.loss)} | {_lost(r)}"
            f" | {_n(r.recovered)} | {_n(r.rate_limited)} | {_n(r.refused)} | {_n(r.gaps)}"
            f" | {r.sockets_closed} | {'yes' if r.saturated else 'no'} |"
        )
    return "\n".join(lines)


def ratio_table(results: list[StepResult]) -> str:
    baseline = {r.rate: r for r in results if r.system == "baseline" and r.label == "sweep"}
    others = sorted({r.system for r in results if r.system != "baseline" and r.label == "sweep"})
    lines = [
        "| msg/s | " + " | ".join(f"{s} p50 / baseline | {s} p99 / baseline" for s in others) + " |",
        "| ---: | " + " | ".join("---: | ---:" for _ in others) + " |",
    ]
    for rate in sorted(baseline):
        cells = []
        for system in others:
            row = next((r for r in results if r.system == system and r.label == "sweep" and r.rate == rate), None)
            if row is None:
                cells += ["-", "-"]
            else:
                cells += [_ratio(row.p50_ms, baseline[rate].p50_ms), _ratio(row.p99_ms, baseline[rate].p99_ms)]
        lines.append(f"| {rate:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def hop_table(results: list[StepResult]) -> str:
    """Each hop's share of the copies' time, for the steps that were broken down (bench.loadgen.hops)."""
    broken_down = [r for r in results if r.hops]
    if not broken_down:
        return "No step was broken down by hop."
    lines = ["| system | msg/s | hop | p50 ms | p95 ms | p99 ms |", "| --- | ---: | --- | ---: | ---: | ---: |"]
    for r in broken_down:
        for hop, figures in (r.hops or {}).items():
            lines.append(
                f"| {r.system} | {r.rate:g} | {hop} | {figures['p50_ms']:.1f} | {figures['p95_ms']:.1f} |"
                f" {figures['p99_ms']:.1f} |"
            )
    return "\n".join(lines)


def page(
    results: list[StepResult], info: dict[str, str], settings: dict[str, str], verdicts: list[str], notes: list[str]
) -> str:
    return "\n".join(
        [
            "# Load benchmark: results",
            "",
            "Made by `make bench` (`bench/load.py`); the method and its reading are in docs/performance.md.",
            "",
            "## Machine",
            "",
            *[f"- {key}: {value}" for key, value in info.items()],
            "",
            "## Run",
            "",
            *[f"- {key}: {value}" for key, value in settings.items()],
            f"- saturated: p99 above {SATURATED_P99_MS:g} ms, deliveries/s below {SATURATED_DELIVERY_SHARE:.0%}"
            " of the offered, any copy lost, any send refused, or any socket closed by the server",
            "",
            "## Targets",
            "",
            *[f"- {verdict}" for verdict in verdicts],
            "",
            "## Every step",
            "",
            "Latency: from the moment the sender's frame is written to the moment each other member's socket"
            " reads its copy (the sender's own copy is not counted), over every copy. Lost: copies owed"
            " (every member but the sender, of every message sent to the baseline or acknowledged by"
            " EchoStream) that had not arrived when the drain ended (for EchoStream: nor after a final"
            " `resume` of every socket that missed one; those it brought are counted as recovered)."
            " Acked-lost: of those, the ones of acknowledged messages (the hard failure); in brackets,"
            " how many of them the room's history shows (kept, but never shown to that member)."
            " Rate_limited: refusals with `retry_after`, each followed by a retry with the same"
            " client_id; refused: sends given up (a refusal for another reason, or still rate_limited"
            " half the drain after the last send). Gaps: holes a client saw (`prev_seq`, `room.head`)"
            " and repaired with `resume`. Sockets closed: sockets that ended during the step (the"
            " clients close none; the server closed them)."
            " *late: the drain reached its limit (60 s after the last send)"
            " while copies were still arriving, so what was missing then may only have been late: not"
            " judged lost.",
            "",
            table(results),
            "",
            "## EchoStream against the baseline (same rate, same clients, same run)",
            "",
            ratio_table(results),
            "",
            "![p50 and p99 latency against the offered rate](performance-load.png)",
            "",
            "## Where the copies' time went, hop by hop",
            "",
            "From the Kafka records' timestamps, taken when each producer was handed the record: the web"
            " (the sender's frame written to the inbound record), moderation (the inbound record to the"
            " room's record), the bridge and the web (the room's record to each other member's socket"
            " reading its copy). Kafka's timestamps are whole milliseconds: each hop is known to about one."
            " A copy's hops add up to its latency; their percentiles need not add up to the whole's.",
            "",
            hop_table(results),
            "",
            *([f"- {note}" for note in notes] if notes else []),
            "",
        ]
    )


def plot(results: list[StepResult], path: Path, *, members: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    systems = sorted({r.system for r in results if r.label == "sweep"}, key=lambda s: (s != "baseline", s))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, system in zip(colours, systems, strict=False):
        rows = sorted((r for r in results if r.system == system and r.label == "sweep"), key=lambda r: r.rate)
        rates = [r.rate for r in rows]
        for attribute, style, name in (("p99_ms", "-", "p99"), ("p50_ms", "--", "p50")):
            axes.plot(rates, [getattr(r, attribute) for r in rows], style, color=colour, label=f"{system} {name}")
        saturated = [r for r in rows if r.saturated]
        axes.scatter([r.rate for r in saturated], [r.p99_ms for r in saturated], marker="x", s=60, color=colour)
    axes.axhline(SATURATED_P99_MS, color="grey", linewidth=0.8, linestyle=":")
    axes.set_yscale("log")
    axes.set_xlabel(f"offered messages/s (each to {members - 1} other members)")
    axes.set_ylabel("send -> receive latency, ms (log)")
    axes.set_title("Latency against offered load (x: saturated step)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
