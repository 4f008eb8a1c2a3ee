"""Loaded first (`-p tests.testenv`, before Django is set up).

Every test run gets its own namespace (Kafka topics, MongoDB database, Redis
keys), so it never sees another run's data or a running `make run`."""

import os
import uuid

os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"estest-{uuid.uuid4().hex[:10]}")
# Tests send bursts on purpose; the rate-limit test sets its own, tighter values.
for kind in ("", "EDIT_", "DELETE_", "RECEIPT_", "RESUME_", "TYPING_"):
    os.environ.setdefault(f"RATE_LIMIT_{kind}BURST", "1000")
# Likewise for the HTTP throttles: system tests sign up many users from 127.0.0.1.
# The throttle tests set tight rates themselves.
for _name in (
    "THROTTLE_SIGNIN_PER_USERNAME",
    "THROTTLE_SIGNIN_PER_IP",
    "THROTTLE_SIGNUP_PER_IP",
    "THROTTLE_CREATE_GROUP_PER_USER",
    "THROTTLE_CREATE_GROUP_PER_IP",
    "THROTTLE_OPEN_DM_PER_USER",
    "THROTTLE_OPEN_DM_PER_IP",
    "THROTTLE_REPORT_PER_USER",
    "THROTTLE_UPLOAD_PER_USER",
):
    os.environ.setdefault(_name, "100000/m")
# The roles of the system tests start after the in-process tests, whose records in this
# namespace's room topics they then show late; backpressure would refuse the first sends.
# The backpressure tests set a tight threshold on stacks of their own.
os.environ.setdefault("BACKPRESSURE_MAX_LAG_SECONDS", "3600")
