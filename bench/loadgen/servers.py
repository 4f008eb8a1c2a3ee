"""The servers under load: the baseline (one daphne process) and EchoStream (its three roles from
the Procfile, the web role under uvicorn as deployed or under daphne), each against the shared services under a
namespace of its own, removed afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.system.stack import free_port

REPO = Path(__file__).resolve().parents[2]

# Sign-up and room creation throttles stop a script that signs up 60 people from one address;
# the bench does exactly that in every run, so they are always raised.
SETUP_LIMITS = {
    "THROTTLE_SIGNUP_PER_IP": "100000/h",
    "THROTTLE_SIGNIN_PER_IP": "100000/m",
    "THROTTLE_CREATE_GROUP_PER_USER": "100000/h",
    "THROTTLE_CREATE_GROUP_PER_IP": "100000/h",
}
# The socket's per-user limits are raised for the sweeps, which measure the pipeline rather than
# the limits; the overload run keeps the real ones (and backpressure is never switched off).
RAISED_SOCKET_LIMITS = {
    "RATE_LIMIT_BURST": "1000000",
    "RATE_LIMIT_PER_SECOND": "1000000",
    "RATE_LIMIT_RESUME_BURST": "1000000",
    "RATE_LIMIT_RESUME_PER_SECOND": "1000000",
}
# The web role under daphne, for the comparison (docs/decisions.md): its keepalive as the
# deployed role's (echostream/web.py).
DAPHNE_WEB = (
    "python -m daphne -b 127.0.0.1 -p ${WEB_PORT} --ping-interval 10 --ping-timeout 15 echostream.asgi:application"
)


BASELINE_APP = "bench.baseline.asgi:application"


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}:\n{log.read_text()[-3000:]}")


class BaselineServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.prefix = f"bench-baseline-{uuid.uuid4().hex[:8]}:asgi"
        self.log = Path(tempfile.mkdtemp(prefix="echostream-baseline-")) / "daphne.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.baseline.settings", "BASELINE_REDIS_PREFIX": self.prefix}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), BASELINE_APP],
            cwd=REPO,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process, self.log)

    def pids(self) -> dict[str, int]:
        return {"web": self.process.pid} if self.process else {}

    def stop(self, *, keep_logs: bool = False) -> None:
        if keep_logs:
            print(f"the baseline's log is {self.log}", flush=True)
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None
        import redis

        client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        for key in client.scan_iter(match=f"{self.prefix}*", count=1000):
            client.delete(key)
        client.close()


class EchoStreamServer:
    """tests.system.stack.Stack, with the web role's command swapped for daphne when asked."""

    def __init__(self, web: str, *, real_limits: bool) -> None:
        from tests.system.stack import Stack

        self.namespace = f"{os.environ['ECHOSTREAM_NAMESPACE']}.{web}{'-real' if real_limits else ''}"
        env = {"ECHOSTREAM_NAMESPACE": self.namespace, **SETUP_LIMITS}
        if not real_limits:
            env |= RAISED_SOCKET_LIMITS
        self.stack = Stack(Path(tempfile.mkdtemp(prefix=f"echostream-load-{web}-")), services_env=env)
        if web == "daphne":
            self.stack.commands["web"] = DAPHNE_WEB
        elif web != "uvicorn":
            raise ValueError(f"unknown web server {web!r}")
        self.base_url = self.stack.base_url

    def start(self) -> None:
        self.stack.migrate()
        for role in ("web", "moderation", "bridge"):
            self.stack.start(role)
        self.stack.wait_ready(timeout=120)

    def pids(self) -> dict[str, int]:
        # Each role runs as `bash -c "exec ..."`: the pid is the Python process itself.
        return {role: process.pid for role, process in self.stack.processes.items()}

    def stop(self, *, keep_logs: bool = False) -> None:
        self.stack.stop_and_forget()
        if keep_logs:
            print(f"the roles' logs are in {self.stack.workdir}", flush=True)
        else:
            shutil.rmtree(self.stack.workdir, ignore_errors=True)
