"""Idle sockets: how many one web process holds, and the memory each costs.

Target (issue 11): at least 10,000 idle sockets on one web process at <= 40 KB each.

Starts the roles from the Procfile in a namespace and database of their own (needs
`make services`; moderation and bridge only for the liveness check: a message still reaches
the sockets while all are open), signs up users over HTTP, opens `--sockets` authenticated
WebSockets to `/ws/` spread over them from this one asyncio process, waits until the server
has sent what it sends on connect, and reads the web process's memory (/proc: RSS from
`status`, PSS and USS from `smaps_rollup`) before (after a warm-up of a few sockets) and
after: per socket = delta / sockets. Then it holds them `--hold` seconds (the web pings them,
presence beats), checks that every one is still open, and sends a message to a room whose
member has a share of the sockets: each of that member's sockets must get it.

Run: `make bench` or `.venv/bin/python bench/idle_sockets.py [--sockets N] [--users N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.deployed import as_deployed  # noqa: E402

os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"bench-idle-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
# As in production: with DEBUG on, Django keeps the text of each socket's queries (up to 9,000),
# which is memory no deployment spends.
as_deployed()
# A hundred sign-ups from one address in a minute is a script, which is what this is.
os.environ.setdefault("THROTTLE_SIGNUP_PER_IP", "100000/h")
os.environ.setdefault("THROTTLE_SIGNIN_PER_IP", "100000/m")
os.environ.setdefault("THROTTLE_OPEN_DM_PER_IP", "100000/m")
# The sockets are spread over --users (100 sockets each at the defaults): what one process holds is
# measured, not the per-user limit.
os.environ.setdefault("WEBSOCKET_MAX_SOCKETS_PER_USER", "1000000")

import django  # noqa: E402

django.setup()
# A line per sign-up request would bury the progress bars.
logging.getLogger("httpx").setLevel(logging.WARNING)

from tqdm import tqdm  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402

from tests.system.client import ChatClient  # noqa: E402
from tests.system.stack import Stack  # noqa: E402

TARGET_SOCKETS = 10_000
TARGET_KB_PER_SOCKET = 40.0
NOFILE = 65536
OPEN_ATTEMPTS = 5
# Past this many sockets that would not open, the process holds no more: the run stops there.
MAX_FAILED = 200


@dataclass
class Memory:
    rss_kb: int
    pss_kb: int
    uss_kb: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        status = _kb_fields(Path(f"/proc/{pid}/status").read_text())
        rollup = _kb_fields(Path(f"/proc/{pid}/smaps_rollup").read_text())
        return cls(
            rss_kb=status["VmRSS"],
            pss_kb=rollup["Pss"],
            uss_kb=rollup["Private_Clean"] + rollup["Private_Dirty"],
        )


def _kb_fields(text: str) -> dict[str, int]:
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name.strip()] = int(parts[0])
    return fields


def settled_memory(pid: int, seconds: float = 5.0) -> Memory:
    """The process's memory once it stops moving (a few samples a second apart): the last sample."""
    previous = Memory.of(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1)
        current = Memory.of(pid)
        if abs(current.rss_kb - previous.rss_kb) < 256:
            return current
        previous = current
    return previous


class Sockets:
    """Many plain sockets of signed-in users, each read by a task of its own (a socket nobody
    reads stops answering the web's pings once its receive buffer fills)."""

    def __init__(self, ws_url: str, origin: str) -> None:
        self.ws_url = ws_url
        self.origin = origin
        self.open: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.owner: list[str] = []
        self.frames: dict[str, int] = {}
        self.last_frame_at = time.monotonic()
        # Socket index -> when it saw the liveness message.
        self.saw_token: dict[int, float] = {}
        self.token = ""
        # Set once every socket in `awaited` saw the liveness message.
        self.awaited: set[int] = set()
        self.all_saw_token = asyncio.Event()
        self.refused = 0  # attempts to open that failed (and were tried again)
        self.failed = 0  # sockets that could not be opened in OPEN_ATTEMPTS tries

    async def open_one(self, username: str, cookie: str) -> None:
        # A web server may refuse or drop a socket whose handshake took long (daphne: 403 when its
        # application did not accept within 5 s): on a busy machine a batch can, and the socket is
        # tried again.
        for attempt in range(OPEN_ATTEMPTS):
            try:
                socket = await connect(
                    self.ws_url,
                    origin=self.origin,
                    additional_headers={"Cookie": cookie},
                    # The server's pings keep it alive; the client's own would add traffic, not idleness.
                    ping_interval=None,
                    max_size=None,
                    open_timeout=120,
                )
                break
            except (InvalidHandshake, OSError, TimeoutError):
                self.refused += 1
                if attempt == OPEN_ATTEMPTS - 1:
                    # Counted, not fatal: how many the process holds is what is measured.
                    self.failed += 1
                    return
                await asyncio.sleep(1 + attempt)
        index = len(self.open)
        self.open.append(socket)
        self.owner.append(username)
        self.readers.append(asyncio.create_task(self._read(index, socket)))

    async def _read(self, index: int, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                self.last_frame_at = time.monotonic()
                frame = json.loads(raw)
                kind = frame.get("type", "?")
                self.frames[kind] = self.frames.get(kind, 0) + 1
                if kind == "message.new" and frame["message"].get("body") == self.token:
                    self.saw_token.setdefault(index, time.monotonic())
                    if self.awaited <= self.saw_token.keys():
                        self.all_saw_token.set()
        except ConnectionClosed:
            pass

    async def quiet(self, seconds: float, timeout: float) -> bool:
        """Waits until no socket got a frame for `seconds`; False when that took over `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_frame_at >= seconds:
                return True
            await asyncio.sleep(0.5)
        return False

    def still_open(self) -> int:
        return sum(1 for reader in self.readers if not reader.done())

    async def close_all(self, timeout: float) -> None:
        async def close(socket: ClientConnection) -> None:
            try:
                await socket.close()
            except Exception:
                socket.transport.abort()

        try:
            async with asyncio.timeout(timeout):
                for start in range(0, len(self.open), 500):
                    await asyncio.gather(*(close(socket) for socket in self.open[start : start + 500]))
        except TimeoutError:
            for socket in self.open:
                socket.transport.abort()
        for reader in self.readers:
            reader.cancel()


@dataclass
class Result:
    sockets_asked: int
    sockets_open: int
    users: int
    open_seconds: float
    open_retries: int
    before: Memory
    after: Memory
    after_hold: Memory
    hold_seconds: float
    still_open_after_hold: int
    liveness_sockets: int
    liveness_reached: int
    liveness_ms: float | None
    frames_on_connect: dict[str, int]

    def per_socket_kb(self, which: str = "after", field: str = "rss_kb") -> float:
        memory = getattr(self, which)
        return (getattr(memory, field) - getattr(self.before, field)) / max(1, self.sockets_open)

    def passed(self) -> bool:
        return (
            self.sockets_open >= TARGET_SOCKETS
            and self.still_open_after_hold == self.sockets_open
            and self.liveness_reached == self.liveness_sockets
            and self.per_socket_kb() <= TARGET_KB_PER_SOCKET
        )

    def line(self) -> str:
        return (
            f"idle sockets: {self.sockets_open}/{self.sockets_asked} open on one web process "
            f"({self.users} users, opened in {self.open_seconds:.0f} s, {self.open_retries} tried again), "
            f"{self.per_socket_kb():.1f} KB/socket RSS "
            f"(USS {self.per_socket_kb(field='uss_kb'):.1f}, PSS {self.per_socket_kb(field='pss_kb'):.1f}; "
            f"after {self.hold_seconds:.0f} s idle {self.per_socket_kb('after_hold'):.1f}), "
            f"web RSS {self.before.rss_kb // 1024} -> {self.after.rss_kb // 1024} MiB, "
            f"{self.still_open_after_hold} still open, liveness {self.liveness_reached}/{self.liveness_sockets}"
            + (f" in {self.liveness_ms:.0f} ms" if self.liveness_ms is not None else "")
            + f" [target >= {TARGET_SOCKETS} at <= {TARGET_KB_PER_SOCKET:.0f} KB: "
            + ("met]" if self.passed() else "NOT met]")
        )

    def as_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "kb_per_socket_rss": round(self.per_socket_kb(), 2),
            "kb_per_socket_uss": round(self.per_socket_kb(field="uss_kb"), 2),
            "kb_per_socket_pss": round(self.per_socket_kb(field="pss_kb"), 2),
            "kb_per_socket_rss_after_hold": round(self.per_socket_kb("after_hold"), 2),
            "target_met": self.passed(),
        }


async def sign_up(base_url: str, count: int, prefix: str) -> list[ChatClient]:
    clients = [ChatClient(base_url) for _ in range(count)]
    # Password hashing is the server's slowest work here: a few at a time keep its two cores busy.
    limit = asyncio.Semaphore(4)

    async def one(n: int, client: ChatClient) -> None:
        async with limit:
            await client.signup(f"{prefix}{n:05d}")

    with tqdm(total=count, desc="sign-ups", unit="user") as bar:

        async def counted(n: int, client: ChatClient) -> None:
            await one(n, client)
            bar.update()

        await asyncio.gather(*(counted(n, client) for n, client in enumerate(clients)))
    return clients


async def run(stack: Stack, pid: int, args: argparse.Namespace) -> Result:
    prefix = f"idle{uuid.uuid4().hex[:4]}u"
    clients = await sign_up(stack.base_url, args.users, prefix)
    # The liveness pair: `sender` writes in a DM with clients[0], who owns a share of the sockets.
    sender = ChatClient(stack.base_url)
    await sender.signup(f"{prefix}sender")
    dm = await sender.open_dm(clients[0].username)
    await sender.connect(resume=False)
    cookies = {client.username: client._cookie_header() for client in clients}
    ws_url = stack.base_url.replace("http://", "ws://") + "/ws/"
    sockets = Sockets(ws_url, stack.base_url)
    warm = Sockets(ws_url, stack.base_url)
    # A few sockets first: the code paths, caches and pools that any socket needs are paid for
    # before the baseline, so that the delta is what each further socket costs.
    for n in range(args.warmup):
        await warm.open_one(clients[n % len(clients)].username, cookies[clients[n % len(clients)].username])
    await warm.quiet(2, 30)
    before = settled_memory(pid)

    started = time.monotonic()
    with tqdm(total=args.sockets, desc="sockets", unit="socket") as bar:
        for start in range(0, args.sockets, args.batch):
            batch = range(start, min(start + args.batch, args.sockets))
            await asyncio.gather(
                *(sockets.open_one(clients[n % len(clients)].username, cookies[clients[n % len(clients)].username])
                  for n in batch)
            )  # fmt: skip
            bar.update(len(batch))
            if sockets.failed >= MAX_FAILED:
                print(f"stopped opening: {sockets.failed} sockets could not be opened", file=sys.stderr)
                break
    open_seconds = time.monotonic() - started
    if not await sockets.quiet(3, 120):
        print("warning: the sockets kept getting frames for 120 s", file=sys.stderr)
    frames_on_connect = dict(sockets.frames)
    after = settled_memory(pid)
    print(f"all {len(sockets.open)} open; holding them {args.hold:.0f} s", file=sys.stderr)

    await asyncio.sleep(args.hold)
    still_open = sockets.still_open()
    after_hold = settled_memory(pid, seconds=3)

    # Liveness: a message in the DM reaches every socket of its other member.
    owner = clients[0].username
    targets = {n for n, name in enumerate(sockets.owner) if name == owner}
    sockets.token = f"alive {uuid.uuid4().hex}"
    sockets.awaited = targets
    sent_at = time.monotonic()
    await sender.send_message(dm["id"], sockets.token)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sockets.all_saw_token.wait(), 30)
    reached = len(targets & sockets.saw_token.keys())
    liveness_ms = (max(sockets.saw_token[n] for n in targets) - sent_at) * 1000 if reached == len(targets) else None

    await sockets.close_all(timeout=120)
    await warm.close_all(timeout=30)
    await sender.close()
    for client in clients:
        await client.http.aclose()
    return Result(
        sockets_asked=args.sockets,
        sockets_open=len(sockets.open),
        users=args.users,
        open_seconds=open_seconds,
        open_retries=sockets.refused,
        before=before,
        after=after,
        after_hold=after_hold,
        hold_seconds=args.hold,
        still_open_after_hold=still_open,
        liveness_sockets=len(targets),
        liveness_reached=reached,
        liveness_ms=liveness_ms,
        frames_on_connect=frames_on_connect,
    )


def raise_open_files() -> None:
    # Both ends of every socket are on this machine: this process's, and (inherited) the web's.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=TARGET_SOCKETS)
    parser.add_argument("--users", type=int, default=100, help="the sockets are spread evenly over them")
    parser.add_argument("--batch", type=int, default=50, help="sockets opened at once")
    parser.add_argument("--warmup", type=int, default=20, help="sockets open before the baseline")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds the sockets stay idle")
    parser.add_argument("--json", type=Path, help="also write the result here as JSON")
    args = parser.parse_args()

    raise_open_files()
    stack = Stack(Path(tempfile.mkdtemp(prefix="echostream-bench-")))
    stack.migrate()
    for role in ("web", "moderation", "bridge"):
        stack.start(role)
    try:
        stack.wait_ready()
        pid = stack.processes["web"].pid
        result = asyncio.run(run(stack, pid, args))
    finally:
        try:
            stack.stop_and_forget()
        except subprocess.CalledProcessError as exc:
            print(f"warning: the namespace's data was not removed: {exc}", file=sys.stderr)
    print(result.line())
    if args.json:
        args.json.write_text(json.dumps(result.as_json(), indent=2) + "\n")


if __name__ == "__main__":
    main()
