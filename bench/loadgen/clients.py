"""The clients: one socket per user, for the baseline and for EchoStream, and the step runner that
sends on a fixed schedule and records every copy that reaches a member."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.loadgen.plan import Message, Plan, schedule
from bench.loadgen.stats import StepResult, summarize

# Both systems get the same client: no permessage-deflate, which would cost the generator (which
# shares the machine's two cores with the servers) more CPU than the servers' work it measures.
SOCKET_OPTIONS: dict[str, Any] = {"compression": None, "max_size": None, "open_timeout": 30}
# The drain after a step goes on while copies keep arriving, until none came for QUIET seconds,
# and never past DRAIN_LIMIT seconds after the last send.
QUIET = 10.0
DRAIN_LIMIT = 60.0


class Step:
    """The messages of one step and what became of them. Frames name their step, so that a
    late copy from the step before is not mistaken for one of this step."""

    def __init__(self, number: int, rate: float, duration: float, plan: Plan, retry_until: float) -> None:
        self.number = number
        self.rate = rate
        self.duration = duration
        self.messages = schedule(plan, rate, duration)
        self.retry_until = retry_until  # seconds after the start: no retry after a rate_limited past it
        self.started = 0.0
        self.duplicates = 0
        self.errors = 0

    def tag(self, message: Message) -> str:
        return f"{self.number}:{message.index}"

    def find(self, tag: str) -> Message | None:
        number, _, index = tag.partition(":")
        if number != str(self.number) or not index.isdigit() or int(index) >= len(self.messages):
            return None
        return self.messages[int(index)]


class System:
    """A system under load: its sockets, how a message goes out, and how its frames are read."""

    name = ""
    acknowledges = False  # whether the server answers each send (EchoStream's message.ack)

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.sockets: dict[int, ClientConnection] = {}
        self.readers: list[asyncio.Task[None]] = []
        self.step: Step | None = None
        self.background: set[asyncio.Task[Any]] = set()
        self.resumed: set[tuple[int, str]] = set()  # (user, room) resumed this step: replays may repeat
        self.closed_sockets = 0
        self.arrived = 0  # copies recorded, over all steps: the drain watches it move

    async def open(self) -> None:
        raise NotImplementedError

    def frame_for(self, step: Step, message: Message) -> str:
        raise NotImplementedError

    def on_frame(self, user: int, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None and self.step is not None:
            self.step.errors += 1

    def start_reading(self, user: int) -> None:
        self.readers.append(asyncio.get_running_loop().create_task(self._read(user)))

    async def _read(self, user: int) -> None:
        socket = self.sockets[user]
        try:
            async for raw in socket:
                self.on_frame(user, json.loads(raw))
        except ConnectionClosed:
            pass
        self.closed_sockets += 1

    def record_arrival(self, user: int, tag: str) -> None:
        message = self.step.find(tag) if self.step is not None else None
        if message is None or user == message.sender:
            return  # the sender's own copy is not a delivery; other steps' copies are not this one's
        if user not in message.arrivals:
            message.arrivals[user] = time.perf_counter()
            self.arrived += 1

    def send(self, step: Step, message: Message) -> None:
        self.spawn(self.sockets[message.sender].send(self.frame_for(step, message)))

    async def run_step(self, step: Step, drain: float) -> StepResult:
        """Sends every message at its time, then waits until every expected copy arrived, or
        `drain` seconds after the last send. Each send is a task of its own: a socket whose
        writes are backed up delays its own frame, never the schedule of the others."""
        self.step = step
        self.resumed = set()
        step.started = time.perf_counter() + 0.2
        for message in step.messages:
            delay = step.started + message.offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            message.sent_at = time.perf_counter()
            message.lag = message.sent_at - (step.started + message.offset)
            self.send(step, message)
        still_arriving = await self.drain(step, drain)
        recovered = await self.recover(step, timeout=max(drain, 10))
        result = summarize(self.name, step, self.plan, acknowledges=self.acknowledges)
        result.still_arriving = still_arriving
        if self.acknowledges:
            result.recovered = recovered
            if result.acked_lost_deliveries:
                stored = await self.stored(step)
                result.acked_lost_stored = sum(
                    len(self.plan.rooms[m.room]) - 1 - len(m.arrivals)
                    for m in step.messages
                    if m.acked_at is not None and step.tag(m) in stored
                )
        self.step = None
        return result

    async def recover(self, step: Step, timeout: float) -> int:
        """Copies fetched after the drain by the client's own means; the baseline has none."""
        return 0

    async def stored(self, step: Step) -> set[str]:
        """Tags of the step's messages that the server kept; the baseline keeps none."""
        return set()

    async def drain(self, step: Step, drain: float) -> bool:
        """Waits for late copies: `drain` seconds after the last send, and longer while copies still
        come in (a system that runs late is not a system that loses), up to DRAIN_LIMIT seconds.
        Whether copies were still coming in when it stopped waiting: then what is missing may
        only be late, and is not judged lost."""
        last_send = last_progress = time.perf_counter()
        seen = self.arrived
        # Polled: what settles a step is spread over every socket's reader, one event would be many.
        while not self.settled(step):
            await asyncio.sleep(0.1)
            now = time.perf_counter()
            if self.arrived != seen:
                seen, last_progress = self.arrived, now
            if now - last_send >= drain and now - last_progress >= QUIET:
                return False
            if now - last_send >= DRAIN_LIMIT:
                return True
        return False

    def settled(self, step: Step) -> bool:
        for message in step.messages:
            if self.acknowledges and message.acked_at is None:
                if message.refused is None:
                    return False
                continue
            if len(message.arrivals) < len(self.plan.rooms[message.room]) - 1:
                return False
        return True

    async def close(self) -> None:
        for socket in self.sockets.values():
            with contextlib.suppress(Exception):
                await socket.close()
        for task in [*self.readers, *self.background]:
            task.cancel()


class Baseline(System):
    """The Channels-tutorial app of bench/baseline: a socket joins its rooms' groups by its query string."""

    name = "baseline"

    def __init__(self, plan: Plan, base_url: str) -> None:
        super().__init__(plan)
        self.ws_url = base_url.replace("http://", "ws://") + "/ws/"
        self.room_names = [f"bench-{uuid.uuid4().hex[:6]}-{r}" for r in range(len(plan.rooms))]

    async def open(self) -> None:
        for user in range(self.plan.users):
            rooms = ",".join(self.room_names[r] for r in self.plan.rooms_of(user))
            self.sockets[user] = await connect(f"{self.ws_url}?rooms={rooms}", **SOCKET_OPTIONS)
            self.start_reading(user)
        await asyncio.sleep(0.5)  # group_add is done before accept, but let the sockets settle alike

    def frame_for(self, step: Step, message: Message) -> str:
        return json.dumps({"room": self.room_names[message.room], "id": step.tag(message), "body": "hello, load"})

    def on_frame(self, user: int, frame: dict[str, Any]) -> None:
        self.record_arrival(user, frame.get("id", ""))


class EchoStream(System):
    """The real protocol (docs/protocol.md): users signed up over HTTP, group rooms made by their
    first member, one socket each; `message.send` with a client_id, answered by `message.ack` or
    `message.rejected`, and `message.new` to every member. A `rate_limited` send goes again with the
    same client_id after `retry_after`, as the browser client does; a gap in a room (`prev_seq`,
    `room.head`) is repaired with `resume`, as the contract asks of a client."""

    name = "echostream"
    acknowledges = True

    def __init__(self, plan: Plan, base_url: str, name: str) -> None:
        super().__init__(plan)
        self.name = name
        self.base_url = base_url
        self.prefix = f"lg{uuid.uuid4().hex[:6]}"
        self.room_ids: list[str] = []
        self.room_index: dict[str, int] = {}
        self.cursors: dict[int, dict[str, int]] = {}
        self.resuming: dict[int, set[str]] = {}
        self.gaps = 0
        self.ack_by_client_id: dict[str, Message] = {}
        self.resumes_pending = 0
        self.clients: list[Any] = []

    async def open(self) -> None:
        from tests.system.client import ChatClient

        clients = [ChatClient(self.base_url) for _ in range(self.plan.users)]
        # Sign-ups hash a password each (hundreds of ms of CPU): a few at a time keeps the server
        # from timing them out while it does.
        limit = asyncio.Semaphore(4)

        async def sign_up(n: int) -> None:
            async with limit:
                await clients[n].signup(f"{self.prefix}u{n:03d}")

        await asyncio.gather(*(sign_up(n) for n in range(self.plan.users)))
        for r, members in enumerate(self.plan.rooms):
            creator, *others = members
            room = await clients[creator].create_group(f"load {r}", [clients[m].username for m in others])
            self.room_ids.append(room["id"])
            self.room_index[room["id"]] = r
        ws_url = self.base_url.replace("http://", "ws://") + "/ws/"
        for user, client in enumerate(clients):
            self.cursors[user] = {self.room_ids[r]: -1 for r in self.plan.rooms_of(user)}
            self.resuming[user] = set()
            self.sockets[user] = await connect(
                ws_url, origin=self.base_url, additional_headers={"Cookie": client._cookie_header()}, **SOCKET_OPTIONS
            )
            self.start_reading(user)
        self.clients = clients  # their HTTP sessions look up the history of a copy that never came
        await asyncio.sleep(1)  # presence announcements of the last sockets are not part of step one

    def client_id(self, step: Step, message: Message) -> str:
        return f"{self.prefix}-{step.tag(message)}"

    def frame_for(self, step: Step, message: Message) -> str:
        client_id = self.client_id(step, message)
        self.ack_by_client_id[client_id] = message
        return json.dumps(
            {
                "type": "message.send",
                "room": self.room_ids[message.room],
                "client_id": client_id,
                "body": f"{step.tag(message)} hello, load",
            }
        )

    def on_frame(self, user: int, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message.new":
            self.record_arrival(user, self._tag(frame["message"]))
            self._follow(user, frame["message"]["room"], frame["seq"], frame.get("prev_seq"))
        elif kind == "message.ack":
            message = self.ack_by_client_id.get(frame["client_id"])
            if message is not None:
                message.answers.append(f"ack at {time.perf_counter() - self.step.started if self.step else 0:.3f}")
            if message is not None and message.acked_at is None:
                message.acked_at = time.perf_counter()
        elif kind == "message.rejected":
            self._rejected(user, frame)
        elif kind == "room.head":
            room, seq = frame["room"], frame["seq"]
            if room in self.cursors[user] and seq > self.cursors[user][room]:
                self._resume(user, room)
        elif kind == "resume.done":
            self.resumes_pending -= 1
            for room, seq in frame["rooms"].items():
                self.resuming[user].discard(room)
                if seq > self.cursors[user].get(room, -1):
                    self.cursors[user][room] = seq
        elif kind == "error" and self.step is not None:
            self.step.errors += 1

    def _tag(self, message: dict[str, Any]) -> str:
        # By client_id: moderation may censor the body, and its profanity list takes some numbers
        # for words ("455" is one).
        client_id = message.get("client_id") or ""
        return client_id.split("-", 1)[1] if client_id.startswith(f"{self.prefix}-") else ""

    def _follow(self, user: int, room: str, seq: int, prev_seq: int | None) -> None:
        cursors = self.cursors[user]
        cursor = cursors.get(room, -1)
        if seq <= cursor:
            if self.step is not None and (user, room) not in self.resumed:
                self.step.duplicates += 1  # live, outside any resume: the contract's "each once" is broken
            return
        contiguous = cursor < 0 if prev_seq is None else prev_seq <= cursor
        if contiguous:
            cursors[room] = seq
        else:
            self._resume(user, room)

    def _resume(self, user: int, room: str) -> None:
        if room in self.resuming[user]:
            return  # the resume under way covers it
        self.gaps += 1
        self.resuming[user].add(room)
        self.resumed.add((user, room))
        self._send_resume(user)

    def _send_resume(self, user: int) -> None:
        rooms = {room: self.cursors[user][room] for room in self.resuming[user]}
        if rooms:
            self.spawn(self.sockets[user].send(json.dumps({"type": "resume", "rooms": rooms})))

    async def recover(self, step: Step, timeout: float) -> int:
        """After the drain: every socket that still misses a copy of an acknowledged message
        resumes all its rooms from its cursors, as a client does when it reconnects. What arrives
        then was kept but not shown live; what still does not was lost. The copies recovered."""
        missing_users = {
            user
            for message in step.messages
            if message.acked_at is not None
            for user in self.plan.rooms[message.room]
            if user != message.sender and user not in message.arrivals
        }
        if not missing_users:
            return 0
        before = sum(len(message.arrivals) for message in step.messages)
        self.resumes_pending = 0
        for user in missing_users:
            self.resuming[user] = set(self.cursors[user])
            self.resumed.update((user, room) for room in self.cursors[user])
            self.resumes_pending += 1
            self._send_resume(user)
        deadline = time.perf_counter() + timeout
        while self.resumes_pending > 0 and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the last replayed frames of a socket come before its resume.done
        return sum(len(message.arrivals) for message in step.messages) - before

    async def stored(self, step: Step) -> set[str]:
        """The tags of this step's messages that the history shows, in the rooms where an acknowledged
        copy never arrived: tells a copy lost on the way to a socket from a message lost before
        it was stored."""
        rooms = {
            m.room
            for m in step.messages
            if m.acked_at is not None and len(m.arrivals) < len(self.plan.rooms[m.room]) - 1
        }
        tags: set[str] = set()
        for room in rooms:
            client = self.clients[self.plan.rooms[room][0]]
            before: int | None = None
            while True:
                params = {"limit": 100} | ({"before": before} if before is not None else {})
                page = (await client.history(self.room_ids[room], **params)).json()
                found = [self._tag(message) for message in page["messages"]]
                tags.update(found)
                older_step = any(not tag.startswith(f"{step.number}:") for tag in found)
                if not page["messages"] or not page["has_more"] or older_step:
                    break
                before = page["messages"][0]["seq"]
        return tags

    async def close(self) -> None:
        await super().close()
        for client in self.clients:
            await client.http.aclose()

    def _rejected(self, user: int, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        if client_id is None:
            if frame.get("reason") == "rate_limited" and frame.get("room") is None:
                asyncio.get_running_loop().call_later(frame["retry_after"], self._send_resume, user)
            return
        message = self.ack_by_client_id.get(client_id)
        step = self.step
        if message is None or step is None or step.find(client_id.split("-", 1)[1]) is not message:
            return
        message.answers.append(
            f"{frame.get('reason')} at {time.perf_counter() - step.started:.3f}: {frame.get('detail')}"
        )
        if frame.get("reason") != "rate_limited":
            message.refused = frame.get("reason")
            return
        message.rate_limited += 1
        retry_after = float(frame.get("retry_after") or 0.1)
        if time.perf_counter() + retry_after - step.started > step.retry_until:
            message.refused = "rate_limited"
            return
        asyncio.get_running_loop().call_later(retry_after, self._retry, step, message)

    def _retry(self, step: Step, message: Message) -> None:
        if self.step is step and message.acked_at is None:
            self.send(step, message)
