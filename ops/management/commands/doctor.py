import sys
from collections.abc import Iterable
from typing import TypeVar

import msgspec
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from ops import doctor
from ops.probes import DEFAULT_TIMEOUT_SECONDS

T = TypeVar("T")


def bar(items: Iterable[T], /, *, total: int, desc: str) -> Iterable[T]:
    # On stderr, so that stdout stays the report (and --json stays JSON).
    return tqdm(items, total=total, desc=desc, unit="topic", file=sys.stderr, leave=False)


class Command(BaseCommand):
    help = (
        "Check that Kafka, Redis, MongoDB and the database answer and are set up as the code expects "
        "(topics, consumer groups, indexes, migrations), saying what to do about each problem. "
        "Exits 1 when a check fails (warnings do not count)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT_SECONDS,
            help=f"seconds each service has to answer its probe (default {DEFAULT_TIMEOUT_SECONDS:g})",
        )
        parser.add_argument(
            "--max-lag",
            type=int,
            default=doctor.DEFAULT_MAX_LAG,
            help=f"records a consumer group may be behind before it fails the check (default {doctor.DEFAULT_MAX_LAG})",
        )

    def handle(self, *args: object, **options: object) -> None:
        as_json = bool(options["json"])
        terminal = self.stdout.isatty()
        progress = bar if sys.stderr.isatty() else doctor.no_progress
        checks = []
        if not as_json:
            self.stdout.write(f"EchoStream doctor (namespace {settings.ECHOSTREAM_NAMESPACE})")
        for check in doctor.diagnose(
            timeout=float(str(options["timeout"])), max_lag=int(str(options["max_lag"])), progress=progress
        ):
            checks.append(check)
            if not as_json:
                self.stdout.write(doctor.format_check(check, terminal=terminal))
        report = doctor.report_of(checks=checks)
        if as_json:
            self.stdout.write(msgspec.json.format(msgspec.json.encode(report)).decode())
        else:
            self.stdout.write(doctor.format_summary(report))
        if not report.ok:
            raise SystemExit(1)
