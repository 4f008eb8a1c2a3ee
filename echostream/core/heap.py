"""What each long-running role does with the heap it started with.

A role's start leaves some hundred thousand objects that live as long as it does: Django,
its apps, the clients' modules. CPython's full collection walks every one of them each time
(the web's took 120 ms on average, up to 280 ms, under load in `bench/load.py`), and every
socket's frames wait meanwhile. Frozen, they are left out of every later collection; what the
role makes afterwards is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Called once a role has loaded everything it will run, before it serves."""
    # Garbage of the start goes first: frozen, it would never be freed.
    gc.collect()
    gc.freeze()
