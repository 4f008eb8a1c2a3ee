"""Load benchmark (issue 11): EchoStream against a Channels-tutorial baseline, same clients, same run.

N users, M rooms of K members (default 60 users, 12 rooms x 6), one WebSocket per user, an
open-loop schedule of R messages/s for D seconds per step. Each system (the baseline of
bench/baseline under daphne; EchoStream with its web role under daphne, then under uvicorn with
uvloop and httptools, as deployed) runs a sweep of rates until it saturates; then EchoStream (uvicorn) holds
twice the baseline's saturation rate for a minute (zero loss?), then takes twice its own sustained
rate with the real rate limits and backpressure in force (nothing acknowledged may be lost; senders
are slowed with `rate_limited` and retry after `retry_after`).

Writes docs/performance-results.md and docs/performance-load.png, and the raw figures as JSON under
bench/results/ (git-ignored). Needs the services (`make services`).

Run: `make bench`, or `.venv/bin/python bench/load.py [--quick] [--rates 50,100,200] [--step 15]
[--systems baseline,daphne,uvicorn] [--profile]`; `--help` lists the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.deployed import as_deployed  # noqa: E402

os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
as_deployed()

import django  # noqa: E402

django.setup()
# One line per HTTP request of 60 sign-ups would bury the figures.
logging.getLogger("httpx").setLevel(logging.WARNING)

from bench.loadgen import hops, report  # noqa: E402
from bench.loadgen.clients import DRAIN_LIMIT, QUIET, Baseline, EchoStream, Step, System  # noqa: E402
from bench.loadgen.plan import Plan  # noqa: E402
from bench.loadgen.servers import BaselineServer, EchoStreamServer  # noqa: E402
from bench.loadgen.stats import StepResult, by_second  # noqa: E402

RESULTS = REPO / "bench" / "results"
PROFILE_RATE = 100.0  # the rate of the latency target: the one to profile and to compare
# --nonblocking: sampling without pausing the server, so the profiled step is timed as the others.
PY_SPY = ["py-spy", "record", "--rate", "100", "--nonblocking"]


def run_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """uvloop when it is there: the generator shares two cores with the servers it loads, and
    every cycle it saves is one the servers get."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def show(result: StepResult) -> None:
    extra = ""
    if result.acked is not None:
        extra = (
            f" acked={result.acked} acked_lost={result.acked_lost_deliveries} rate_limited={result.rate_limited}"
            f" refused={result.refused} unanswered={result.unanswered} ack_p99={result.ack_p99_ms:.1f}ms"
            f" gaps={result.gaps} recovered={result.recovered} acked_lost_stored={result.acked_lost_stored}"
        )
    print(
        f"  {result.system:<18} {result.label:<9} {result.rate:5g}/s {result.duration:3g}s"
        f"  p50={result.p50_ms:8.1f} p95={result.p95_ms:8.1f} p99={result.p99_ms:8.1f} ms"
        f"  deliveries/s={result.deliveries_per_s:6.0f}/{result.offered_deliveries_per_s:.0f}"
        f"  lost={result.loss}{extra} dup={result.duplicates} closed={result.sockets_closed}"
        f" gen_lag_p99={result.generator_lag_p99_ms:.1f}ms"
        f"{'  SATURATED' if result.saturated else ''}",
        flush=True,
    )
    for hop, figures in (result.hops or {}).items():
        percentiles = " ".join(f"p{p}={figures[f'p{p}_ms']:6.1f}" for p in (50, 95, 99))
        print(f"    {hop:<15} {percentiles} ms")


class Profiler:
    """py-spy on the server's processes while one step runs (flame graphs, SVG)."""

    def __init__(self, pids: dict[str, int], tag: str, seconds: float) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.processes = []
        for role, pid in pids.items():
            out = RESULTS / f"profile-{tag}-{role}.svg"
            self.processes.append(
                subprocess.Popen(
                    [*PY_SPY, "--pid", str(pid), "--duration", str(int(seconds)), "--output", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )

    def wait(self) -> None:
        for process in self.processes:
            try:
                _, err = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                continue
            if process.returncode:
                print(f"  py-spy failed: {err.decode(errors='replace')[-500:]}", flush=True)


async def load(
    system: System,
    runs: list[tuple[str, float, float]],
    *,
    drain: float,
    stop_when_saturated: bool,
    profile: Callable[[float, float], Profiler | None],
    namespace: str | None = None,
) -> list[StepResult]:
    """Opens the system's sockets once, then runs the steps (label, rate, seconds) in order.
    `namespace`: EchoStream's, whose topics tell where the copies of the PROFILE_RATE step spent
    their time."""
    opening = time.monotonic()
    await system.open()
    print(f"  {system.name}: {system.plan.users} sockets open in {time.monotonic() - opening:.0f} s", flush=True)
    results = []
    try:
        saturated = False
        for number, (label, rate, seconds) in enumerate(runs):
            if label == "sweep" and saturated and stop_when_saturated and rate > PROFILE_RATE:
                # Past the rate that saturated it, a step only measures a backlog; the target's
                # rate is run whatever happened below it, so that every system has its figure.
                continue
            if label != "sweep":
                # Past the backpressure window of whatever the step before left late.
                await asyncio.sleep(5)
            # A rate_limited send may still go again within half the drain after the last send.
            step = Step(number, rate, seconds, system.plan, retry_until=seconds + drain / 2)
            profiler = profile(rate, seconds) if label == "sweep" else None
            closed_before = system.closed_sockets
            result = await system.run_step(step, drain)
            if profiler is not None:
                profiler.wait()
            result.label = label
            result.sockets_closed = system.closed_sockets - closed_before
            result.series = by_second(step)
            if isinstance(system, EchoStream):
                result.gaps = system.gaps
                system.gaps = 0
                if namespace is not None and label == "sweep" and rate == PROFILE_RATE:
                    result.hops = await hop_breakdown(system, step, namespace)
            show(result)
            results.append(result)
            if result.acked_lost_deliveries:
                dump_lost(system, step)
            saturated = saturated or (label == "sweep" and result.saturated)
    finally:
        await system.close()
    return results


async def hop_breakdown(system: EchoStream, step: Step, namespace: str) -> dict[str, dict[str, float]]:
    inbound, room = await asyncio.to_thread(hops.record_times, namespace)
    return hops.breakdown(
        step,
        client_id=lambda message: system.client_id(step, message),
        inbound=inbound,
        room=room,
        wall_minus_perf=time.time() - time.perf_counter(),
    )


def dump_lost(system: System, step: Step) -> None:
    """What became of each acknowledged message that missed a member: for the one who looks into it."""
    lost = [
        {
            "tag": step.tag(m),
            "room": m.room,
            "sender": m.sender,
            "sent_at": round((m.sent_at or 0) - step.started, 3),
            "answers": m.answers,
            "missing": [u for u in system.plan.rooms[m.room] if u != m.sender and u not in m.arrivals],
            "cursors": {u: getattr(system, "cursors", {}).get(u) for u in system.plan.rooms[m.room]},
        }
        for m in step.messages
        if m.acked_at is not None and len(m.arrivals) < len(system.plan.rooms[m.room]) - 1
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"lost-{system.name}-{step.number}.json"
    path.write_text(json.dumps(lost, indent=1, default=str))
    print(f"  {len(lost)} acknowledged message(s) still miss a copy, after the count: {path}", flush=True)


def sweep(
    name: str, args: argparse.Namespace, plan: Plan, runs: list[tuple[str, float, float]], profile: bool = False
) -> list[StepResult]:
    if name == "baseline":
        server: BaselineServer | EchoStreamServer = BaselineServer()
    else:
        server = EchoStreamServer(name.removeprefix("echostream-").removesuffix("-real"), real_limits="-real" in name)
    print(f"{name}: starting", flush=True)
    started = time.monotonic()
    try:
        # Inside: a start that fails part way (a role that exits early) stops what it started.
        server.start()

        def profiler(rate: float, seconds: float) -> Profiler | None:
            if profile and rate == PROFILE_RATE:
                return Profiler(server.pids(), name, seconds)
            return None

        system: System = (
            Baseline(plan, server.base_url) if name == "baseline" else EchoStream(plan, server.base_url, name)
        )
        print(f"{name}: ready in {time.monotonic() - started:.0f} s", flush=True)
        namespace = server.namespace if isinstance(server, EchoStreamServer) else None
        results = run_loop(
            load(
                system,
                runs,
                drain=args.drain,
                stop_when_saturated=not args.full_sweep,
                profile=profiler,
                namespace=namespace,
            )
        )
    except BaseException:
        server.stop(keep_logs=True)
        raise
    # An acknowledged message lost is the failure to look into: keep the roles' logs then.
    server.stop(keep_logs=any(r.acked_lost_deliveries for r in results))
    return results


def saturation_rate(results: list[StepResult], system: str) -> float | None:
    """The lowest rate of the system's sweep that saturated it (None: none did)."""
    rows = sorted((r for r in results if r.system == system and r.label == "sweep"), key=lambda r: r.rate)
    return next((r.rate for r in rows if r.saturated), None)


def sustained_rate(results: list[StepResult], system: str) -> float | None:
    """The highest rate the system held without saturating (sweep or sustained run)."""
    held = [r.rate for r in results if r.system == system and r.label in ("sweep", "sustained") and not r.saturated]
    return max(held, default=None)


def verdicts(results: list[StepResult], overload_basis: str) -> list[str]:
    out = []
    base = next((r for r in results if r.system == "baseline" and r.rate == PROFILE_RATE), None)
    for system in ("echostream-daphne", "echostream-uvicorn"):
        row = next((r for r in results if r.system == system and r.label == "sweep" and r.rate == PROFILE_RATE), None)
        if base and row:
            ratio = row.p99_ms / base.p99_ms
            out.append(
                f"{system} at {PROFILE_RATE:g} msg/s: p99 {row.p99_ms:.1f} ms against the baseline's"
                f" {base.p99_ms:.1f} ms = {ratio:.2f}x (target at most 1.5x): {'met' if ratio <= 1.5 else 'NOT met'}"
            )
    base_saturation = saturation_rate(results, "baseline")
    held = next((r for r in results if r.label == "sustained"), None)
    if held is not None:
        # A sustained rate is one carried for the minute: nothing lost, and kept up with (not
        # saturated). Copies that all arrive a minute late lost nothing but were not sustained.
        ok = (
            not held.saturated
            and held.loss == 0
            and not held.refused
            and not held.rate_limited
            and held.acked == held.sent
            and not held.still_arriving
            and held.duration >= 60
        )
        late = " (copies were still arriving when the bench stopped waiting)" if held.still_arriving else ""
        out.append(
            f"{held.system} ran at {held.rate:g} msg/s for {held.duration:g} s (the baseline saturated at"
            f" {base_saturation or 'none of the rates tried'}): lost {held.loss}, acked-lost"
            f" {held.acked_lost_deliveries}{late}, refused {held.refused}, p99 {held.p99_ms:.0f} ms,"
            f" {'saturated' if held.saturated else 'kept up'}:"
            f" {'met' if ok else 'NOT met'} (target: kept up with, nothing lost, at 2x the baseline's"
            " saturation rate, for a minute)"
        )
    over = next((r for r in results if r.label == "overload"), None)
    if over is not None and over.still_arriving and over.acked_lost_deliveries:
        out.append(
            f"{over.system} at {over.rate:g} msg/s ({overload_basis}, real limits): not judged: copies were"
            f" still arriving 60 s after the last send ({over.acked_lost_deliveries} of acked messages missing"
            f" then); {over.rate_limited} rate_limited answers, {over.refused} sends given up"
        )
    elif over is not None:
        out.append(
            f"{over.system} at {over.rate:g} msg/s ({overload_basis}, real limits): acked-lost"
            f" {over.acked_lost_deliveries} (target 0: {'met' if over.acked_lost_deliveries == 0 else 'NOT met'}),"
            f" {over.rate_limited} rate_limited answers, {over.refused} sends given up after retrying,"
            f" {over.unanswered} unanswered, ack p50/p99 {over.ack_p50_ms:.0f}/{over.ack_p99_ms:.0f} ms"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--rooms", type=int, default=12)
    parser.add_argument("--members", type=int, default=6)
    parser.add_argument("--rates", default=None, help="messages/s of the sweep (50,100,200,300,400)")
    parser.add_argument("--step", type=float, default=None, help="seconds of each sweep step (15)")
    parser.add_argument("--drain", type=float, default=10, help="seconds to wait for late copies after a step")
    parser.add_argument("--sustained", type=float, default=None, help="seconds at 2x the baseline's saturation (60)")
    parser.add_argument("--overload", type=float, default=None, help="seconds at 2x EchoStream's sustained rate (30)")
    parser.add_argument(
        "--systems", default="baseline,daphne,uvicorn,overload", help="what to run (baseline,daphne,uvicorn,overload)"
    )
    parser.add_argument("--full-sweep", action="store_true", help="go on past the first saturated step")
    parser.add_argument("--quick", action="store_true", help="5 s steps at 50,100,200; 15 s sustained; 10 s overload")
    parser.add_argument("--profile", action="store_true", help=f"py-spy the servers at {PROFILE_RATE:g} msg/s")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance-results.md")
    args = parser.parse_args()
    # --quick changes the defaults only: a flag given with it still wins.
    defaults = ("50,100,200", 5.0, 15.0, 10.0) if args.quick else ("50,100,200,300,400", 15.0, 60.0, 30.0)
    for name, default in zip(("rates", "step", "sustained", "overload"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    rates = [float(rate) for rate in args.rates.split(",")]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if unknown := set(systems) - {"baseline", "daphne", "uvicorn", "overload"}:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    plan = Plan.make(args.users, args.rooms, args.members)
    sweep_runs = [("sweep", rate, args.step) for rate in rates]
    began = time.monotonic()
    info = report.machine()  # before the run: its load average is the other work on the machine

    results: list[StepResult] = []
    for system in [s for s in systems if s != "overload"]:
        name = "baseline" if system == "baseline" else f"echostream-{system}"
        extra: list[tuple[str, float, float]] = []
        if system == "uvicorn" and args.sustained > 0:
            # Twice where the baseline saturated, or twice its top rate when it never did.
            base = saturation_rate(results, "baseline") or max(rates)
            extra = [("sustained", 2 * base, args.sustained)]
        results += sweep(name, args, plan, sweep_runs + extra, profile=args.profile and system == "uvicorn")
    overload_basis = ""
    if "overload" in systems and args.overload > 0:
        held = sustained_rate(results, "echostream-uvicorn")
        overload_basis = (
            f"2x its sustained rate of {held:g} msg/s" if held else f"no rate held: 2x {min(rates):g} msg/s"
        )
        results += sweep("echostream-uvicorn-real", args, plan, [("overload", 2 * (held or min(rates)), args.overload)])

    settings = {
        "users, rooms x members": f"{args.users}, {args.rooms} x {args.members} (one socket per user)",
        "step, drain": f"{args.step:g} s per rate; late copies awaited {args.drain:g} s after the last send, longer"
        f" while they still arrive (until {QUIET:g} s pass without one, at most {DRAIN_LIMIT:g} s)",
        "rates": args.rates,
        "servers": "baseline: bench/baseline under one daphne; EchoStream: web, moderation and bridge roles,"
        " the web under uvicorn as deployed (echostream/web.py: uvloop, httptools, websockets-sansio) or under daphne",
        "limits": "socket rate limits raised for the sweeps and the sustained run; the real ones in the"
        " overload run; backpressure in force throughout",
        "wall time": f"{time.monotonic() - began:.0f} s",
    }
    judged = verdicts(results, overload_basis)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps([r.as_dict() for r in results], indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    png = args.output.parent / "performance-load.png"
    report.plot(results, png, members=args.members)
    notes = []
    if args.profile:
        notes.append(f"py-spy flame graphs of the {PROFILE_RATE:g} msg/s step: bench/results/profile-*.svg")
    args.output.write_text(report.page(results, info, settings, judged, notes))
    print()
    print(report.table(results))
    print()
    print(report.ratio_table(results))
    print()
    print("\n".join(judged))
    print(f"\nwrote {args.output}, {png} and {RESULTS / 'load.json'}")


if __name__ == "__main__":
    main()
