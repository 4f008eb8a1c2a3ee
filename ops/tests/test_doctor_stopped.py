"""`manage.py doctor` as an operator runs it, with one service pointed at a port where nothing
listens (the real one keeps running for the other tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import databases
from tests.system.stack import free_port

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A migrated database of the module's own: the subprocess cannot see the tests' one."""
    with databases.fresh_database() as url:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=REPO,
            env={**os.environ, "DATABASE_URL": url},
            check=True,
        )
        yield url


def run_doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "doctor", "--timeout", "1"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("service", "setting", "value", "advice"),
    [
        ("kafka", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:{port}", "scripts/services.sh up kafka"),
        ("redis", "REDIS_URL", "redis://127.0.0.1:{port}/0", "scripts/services.sh up redis"),
        ("mongodb", "MONGODB_URI", "mongodb://127.0.0.1:{port}/", "scripts/services.sh up mongodb"),
        ("postgres", "DATABASE_URL", "postgres://echostream@127.0.0.1:{port}/echostream", "services.sh up postgres"),
    ],
)
def test_a_stopped_service_fails_naming_it_where_it_was_asked_and_what_to_do(
    services, database_url, service, setting, value, advice
):
    port = free_port()
    address = value.format(port=port)

    done = run_doctor({"DATABASE_URL": database_url, setting: address})

    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("  FAIL ")]
    assert failed[0].startswith(f"  FAIL {service}: ") and "does not answer at" in failed[0]
    assert f"127.0.0.1:{port}" in failed[0]
    assert advice in done.stdout and f"or set {setting}" in done.stdout
    # The other services answer.
    assert [line for line in failed if line.split()[1] in ("kafka:", "redis:", "mongodb:", "postgres:")] == failed[:1]


def test_with_kafka_stopped_the_checks_needing_it_are_skipped(services, database_url):
    done = run_doctor({"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})

    assert done.returncode == 1
    skipped = [line for line in done.stdout.splitlines() if line.startswith("  SKIP ")]
    assert skipped == [
        "  SKIP topics: not checked: Kafka does not answer (above)",
        "  SKIP consumer_groups: not checked: Kafka does not answer (above)",
    ]
    assert "Traceback" not in done.stderr


def test_with_the_database_stopped_the_checks_needing_it_are_skipped(services):
    done = run_doctor({"DATABASE_URL": f"postgres://echostream@127.0.0.1:{free_port()}/echostream"})

    assert done.returncode == 1
    assert "  FAIL postgres: The database does not answer at postgresql 127.0.0.1:" in done.stdout
    assert "  SKIP migrations: not checked: the database does not answer (above)" in done.stdout
    assert "  SKIP room topics: not checked: the database does not answer (above)" in done.stdout
