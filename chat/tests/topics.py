"""Waiting for the broker's topic listing in tests: a creation or a deletion reaches the broker's
metadata a little after it is acknowledged."""

from __future__ import annotations

import time

from echostream.core import kafka


def listed(room_id: str, *, present: bool = True) -> bool:
    """Whether the room's topic comes to be listed (or, `present=False`, to be gone)."""
    for _ in range(150):
        if (room_id in kafka.room_topics()) == present:
            return True
        time.sleep(0.2)
    return False
