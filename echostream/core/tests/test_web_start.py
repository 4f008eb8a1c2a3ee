"""What the web role does as it starts: it leaves its long-lived objects out of every later full
collection, and makes its Kafka producer before any send asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

PROBE = """
import gc
import echostream.asgi
cyclic = []
cyclic.append(cyclic)  # made after the start: still collected
del cyclic
freed = gc.collect()
print(gc.get_freeze_count(), freed)
"""


def printed_by_a_started_web(probe: str) -> list[str]:
    """What `probe` prints, run in a fresh process that loads the web role (echostream.asgi)."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "echostream.settings"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_web_role_s_startup_objects_are_frozen_and_later_garbage_still_collected():
    frozen, freed = (int(field) for field in printed_by_a_started_web(PROBE))
    assert frozen > 50_000  # Django, the apps and the clients' modules
    assert freed >= 1


PRODUCER_PROBE = """
import time
import echostream.asgi
from echostream.core import kafka
deadline = time.monotonic() + 60
while kafka._producer is None and time.monotonic() < deadline:
    time.sleep(0.05)
print(kafka._producer is not None)
"""


@pytest.mark.usefixtures("services")
def test_the_web_role_makes_its_kafka_producer_as_it_starts_before_any_send():
    assert printed_by_a_started_web(PRODUCER_PROBE) == ["True"]
