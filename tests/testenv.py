"""Loaded first (`-p tests.testenv`, before Django is set up).

Every test run gets its own namespace (Kafka topics, MongoDB database, Redis
keys), so it never sees another run's data or a running `make run`."""

import os
import uuid

os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"estest-{uuid.uuid4().hex[:10]}")
# Tests send bursts on purpose; the rate-limit test sets its own, tighter values.
for kind in ("", "EDIT_", "DELETE_", "RECEIPT_", "RESUME_"):
    os.environ.setdefault(f"RATE_LIMIT_{kind}BURST", "1000")
