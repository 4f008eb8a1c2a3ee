"""Runs the three roles exactly as the Procfile (and so `make run`) does, each as its own process,
so that a test can kill and restart one of them."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests import databases

REPO = Path(__file__).resolve().parents[2]


def procfile_commands() -> dict[str, str]:
    commands = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = command.strip()
    return commands


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


# scripts/services.sh's defaults, which a test's services may not be running on just now.
_SERVICE_PORTS = frozenset({5432, 6379, 9092, 9093, 27017})
_handed_out: set[int] = set()


def port_candidates(ephemeral: range) -> list[int]:
    """Ports a test may give a server of its own: none the kernel hands out as the source port of
    an outgoing connection (a Kafka or Redis client connecting in between could take one, and the
    server would fail to bind), none of the services' own, none handed out already."""
    return [
        port
        for port in range(10000, 65536)
        if port not in ephemeral and port not in _SERVICE_PORTS and port not in _handed_out
    ]


def free_port() -> int:
    """A port nothing listens on, for a server a test starts a moment later."""
    candidates = port_candidates(_ephemeral_ports())
    for port in random.sample(candidates, k=min(200, len(candidates))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    # The ephemeral range covers (nearly) every port: only the kernel's pick is left.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _handed_out.add(port)
    return port


class Stack:
    def __init__(self, workdir: Path, services_env: dict[str, str] | None = None) -> None:
        """`services_env` points the roles at other services (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL,
        MONGODB_URI, DATABASE_URL) than the settings' defaults. The stack gets a database of its own
        on the PostgreSQL server that DATABASE_URL names, dropped when it stops (or, when it names
        SQLite, a file in `workdir`)."""
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Several stacks run at once: each worker's metrics port is one of its own.
        self.metrics_ports = {"moderation": free_port(), "bridge": free_port()}
        services_env = services_env or {}
        self.server = databases.database_server(services_env.get("DATABASE_URL") or os.environ.get("DATABASE_URL"))
        self.database: str | None = None
        if not databases.is_postgres(self.server):
            url = f"sqlite:///{workdir / 'db.sqlite3'}"
        else:
            self.database = databases.new_database_name(services_env.get("ECHOSTREAM_NAMESPACE"))
            databases.create_database(self.server, self.database)
            url = databases.database_url(self.server, self.database)
        self.env = {
            **os.environ,
            "WEB_PORT": str(self.port),
            # Uploaded attachments, with the stack's other data.
            "MEDIA_ROOT": str(workdir / "media"),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "MODERATION_METRICS_PORT": str(self.metrics_ports["moderation"]),
            "BRIDGE_METRICS_PORT": str(self.metrics_ports["bridge"]),
            **services_env,
            "DATABASE_URL": url,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands = procfile_commands()

    def migrate(self) -> None:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=self.env, check=True)

    def manage(self, *args: str) -> str:
        """Runs a management command against the stack's database and services; its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout

    def make_moderator(self, username: str) -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.filter(username={username!r}).update(is_staff=True)",
        )

    def metrics_url(self, role: str, path: str = "/metrics") -> str:
        """The role's `/metrics` (or `path`: `/healthz`, `/readyz`): the web's own port, a worker's metrics port."""
        if role == "web":
            return self.base_url + path
        return f"http://127.0.0.1:{self.metrics_ports[role]}{path}"

    def log_path(self, role: str) -> Path:
        return self.workdir / f"{role}.log"

    def start(self, role: str) -> None:
        log = self.log_path(role).open("ab")
        self.processes[role] = subprocess.Popen(
            ["bash", "-c", "exec " + self.commands[role]],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for role, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{role} exited early:\n{self.log_path(role).read_text()[-3000:]}")
            try:
                if httpx.get(self.base_url + "/api/auth/csrf/", timeout=1).status_code == 200 and all(
                    "consuming" in self.log_path(role).read_text() for role in ("moderation", "bridge")
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the stack did not get ready: " + self.describe())

    def kill(self, role: str) -> None:
        process = self.processes.pop(role)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def terminate(self, role: str, timeout: float = 60) -> int | None:
        """Asks one role to stop (SIGTERM) and waits; its exit status, or None if it did not end
        within `timeout` (it is killed then)."""
        process = self.processes.pop(role)
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            return None

    def stop_roles(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def drop_database(self) -> None:
        if self.database is None:
            return
        databases.drop_database(self.server, self.database)
        self.database = None

    def stop(self) -> None:
        """Stops the roles and drops the stack's database."""
        try:
            self.stop_roles()
        finally:
            self.drop_database()

    def stop_and_forget(self) -> None:
        """Stops the roles, then removes what they kept under the stack's namespace (its Redis
        keys, MongoDB database and Kafka topics) and drops its database."""
        try:
            self.stop_roles()
            self.manage(
                "shell",
                "-c",
                "import asyncio; from echostream.core import kafka, mongo, redis; "
                "asyncio.run(mongo.drop_database()); asyncio.run(redis.delete_namespace_keys()); "
                "kafka.delete_namespace_topics()",
            )
        finally:
            self.drop_database()

    def describe(self) -> str:
        return "\n".join(
            f"--- {role}.log\n{self.log_path(role).read_text()[-2000:]}"
            for role in self.commands
            if self.log_path(role).exists()
        )


def private_stack(workdir: Path, name: str, **env: str) -> Iterator[Stack]:
    """The three roles in a namespace of their own (so the session's stack and this one never
    share consumer groups or Redis keys), with `env` on top; its data removed after."""
    namespace = f"{os.environ['ECHOSTREAM_NAMESPACE']}.{name}"
    stack = Stack(workdir, services_env={"ECHOSTREAM_NAMESPACE": namespace, **env})
    try:
        stack.migrate()
        for role in ("web", "moderation", "bridge"):
            stack.start(role)
        stack.wait_ready()
        yield stack
    finally:
        stack.stop_and_forget()
