"""A private set of Kafka, Redis, MongoDB and PostgreSQL, run by scripts/services.sh with an
ECHOSTREAM_HOME and ports of their own, for tests that stop and restart services: the shared ones
(and other engineers' test runs on them) are never touched."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.system.stack import REPO, free_port


class Services:
    """Started and stopped with `run("up" | "down" | "restart" ..., [service...])`; `urls` points a
    Stack (its services_env) or the settings at them."""

    PORTS = ("KAFKA", "KAFKA_CONTROLLER", "REDIS", "MONGODB", "POSTGRES")

    def __init__(self, home: Path) -> None:
        self.home = home
        self.ports = {name: free_port() for name in self.PORTS}
        # Outside URLs would make services.sh use them instead of starting its own.
        inherited = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "KAFKA_BOOTSTRAP_SERVERS")}
        self.env = {
            **inherited,
            "ECHOSTREAM_HOME": str(home),
            **{f"ECHOSTREAM_{name}_PORT": str(port) for name, port in self.ports.items()},
        }
        self.urls = {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.ports['KAFKA']}",
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['REDIS']}/0",
            "MONGODB_URI": f"mongodb://127.0.0.1:{self.ports['MONGODB']}/",
            # The cluster's superuser and database, as services.sh makes them. A Stack on these
            # services makes a database of its own on this server.
            "DATABASE_URL": f"postgres://echostream@127.0.0.1:{self.ports['POSTGRES']}/echostream",
        }

    def run(self, *args: str) -> None:
        subprocess.run(["bash", str(REPO / "scripts" / "services.sh"), *args], env=self.env, check=True, timeout=600)

    async def arun(self, *args: str) -> None:
        await asyncio.to_thread(self.run, *args)


@contextmanager
def private_services(*names: str) -> Iterator[Services]:
    """The named services (all four when none), up in a home of their own; stopped and removed
    after, even when starting them failed.

    Not under pytest's tmp_path: as root, services.sh runs PostgreSQL as the `postgres` user
    (PostgreSQL refuses root), which must be able to enter every folder above the cluster, and
    pytest's base folder is private to its owner (mode 0700)."""
    home = Path(tempfile.mkdtemp(prefix="echostream-services-"))
    home.chmod(0o755)
    services = Services(home)
    try:
        services.run("up", *names)
        yield services
    finally:
        try:
            services.run("down", *names)
        finally:
            shutil.rmtree(home, ignore_errors=True)
