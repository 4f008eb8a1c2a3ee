"""The fault suite's workload and checker, after Jepsen's acknowledged-versus-read checker.

Members send steadily over one socket each, which reconnects and resumes by itself when it drops
(as static/chat/socket.js does). The workload records every answer to every send; afterwards the
checker compares what was acknowledged with what MongoDB stores and with the `message.new`
stream each member's client was shown."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import PyMongoError
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.protocol import State

from tests.system.client import ChatClient, refused_resume
from tests.system.inspect import stored_messages

ACK = "ack"
# The pause between one member's sends: a busy person, not a load test.
PAUSE = 0.15


async def eventually(condition: Callable[[], bool], *, timeout: float, every: float = 0.2) -> bool:
    """Whether `condition` holds within `timeout` seconds (polled: it reads other tasks' state)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)


@dataclass
class Try:
    """One send of a message: when its frame went out, and the answer and when it came."""

    sent_at: float
    answer: str
    answered_at: float


@dataclass
class Attempt:
    """One message a member meant to send, and each try (all with one client_id)."""

    room: str
    body: str
    tries: list[Try] = field(default_factory=list)
    acked_at: float | None = None

    @property
    def answers(self) -> list[str]:
        return [one.answer for one in self.tries]


def _follows(prev_seq: int | None, cursor: int) -> bool:
    # None: the server knows no earlier event in the room, which is sure only for a client that has none.
    return cursor < 0 if prev_seq is None else prev_seq <= cursor


class Member:
    """One user's one socket: it reconnects and resumes from its per-room cursor when it drops."""

    def __init__(self, chat: ChatClient, rooms: list[str]) -> None:
        self.chat = chat
        self.cursors = dict.fromkeys(rooms, -1)
        self.shown: dict[str, list[dict[str, Any]]] = {room: [] for room in rooms}
        self.shown_at: dict[str, float] = {}
        self.reconnects = 0
        self.gaps = 0
        self._resuming: set[str] = set()
        # Per room: the cursor its resume under way was sent from.
        self._resumed_from: dict[str, int] = {}
        self.ready = asyncio.Event()
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._resume_retry: asyncio.Task[None] | None = None
        self.resumes_refused = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        backoff = 0.2
        while not self._closing:
            try:
                await self.chat.connect(resume=False, will_resume=True)
                self._resumed_from = dict(self.cursors)
                await self.chat.send_frame({"type": "resume", "rooms": dict(self.cursors)})
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.2
            self._resuming.clear()
            await self._read_until_closed()
            self.ready.clear()
            for future in self._pending.values():
                if not future.done():
                    future.set_result("dropped")
            if not self._closing:
                self.reconnects += 1

    async def _read_until_closed(self) -> None:
        assert self.chat.socket is not None
        while not self._closing:
            try:
                frame = await asyncio.wait_for(self.chat.frames.get(), 0.5)
            except TimeoutError:
                if self.chat.socket.state is State.CLOSED and self.chat.frames.empty():
                    return
                continue
            resume = self.handle(frame)
            if resume:
                with contextlib.suppress(ConnectionClosed):
                    await self.chat.send_frame({"type": "resume", "rooms": resume})
            if not isinstance(frame, Exception) and refused_resume(frame):
                self._resume_later(frame["retry_after"])

    def _resume_later(self, seconds: float) -> None:
        """A resume was refused with `rate_limited`: what is still unanswered goes again after
        `retry_after` (docs/protocol.md, "Retrying after rate_limited")."""
        self.resumes_refused += 1
        if self._resume_retry is None or self._resume_retry.done():
            self._resume_retry = asyncio.create_task(self._resume_again(seconds))

    async def _resume_again(self, seconds: float) -> None:
        socket = self.chat.socket
        await asyncio.sleep(seconds)
        # Before the first resume.done, the refused one may be the socket's opening resume: all rooms.
        rooms = dict(self.cursors) if not self.ready.is_set() else {room: self.cursors[room] for room in self._resuming}
        if rooms and not self._closing and self.chat.socket is socket:
            with contextlib.suppress(ConnectionClosed):
                self._note_resume(rooms)
                await self.chat.send_frame({"type": "resume", "rooms": rooms})

    def handle(self, frame: dict[str, Any]) -> dict[str, int] | None:
        """Takes in one frame from the server; the `resume` cursors to send when the frame shows
        that something was missed (docs/protocol.md, "Gaps and resuming": a frame whose `prev_seq`
        is above the room's cursor, or a `room.head` above it). Frames without `prev_seq` (older
        servers) are taken in order as they come."""
        kind = frame.get("type")
        if kind in ("message.new", "message.updated"):
            message = frame["message"]
            room, seq = message["room"], frame.get("seq", message["seq"])
            if "prev_seq" in frame and seq > self.cursors[room] and not _follows(frame["prev_seq"], self.cursors[room]):
                # Not shown: the replay of the resume brings it, in its place.
                return self._resume(room)
            if seq <= self.cursors[room] and seq > self._resumed_from.get(room, seq):
                # The replay of a resume repeats what came live after the resume was sent (the
                # protocol replays everything after the cursor sent): a copy the rule drops.
                return None
            # Any other copy of what it has (seq at or below the cursor) is shown too, and so
            # counted: a client that resumes from its true cursor must never get one.
            self.cursors[room] = max(self.cursors[room], seq)
            if kind == "message.new":
                self.shown[room].append(message)
                if message.get("client_id"):
                    self.shown_at.setdefault(message["client_id"], time.monotonic())
        elif kind == "room.head" and frame["room"] in self.cursors and frame["seq"] > self.cursors[frame["room"]]:
            return self._resume(frame["room"])
        elif kind == "resume.done":
            reload = set(frame.get("reload", []))
            for room, seq in frame.get("rooms", {}).items():
                self._resuming.discard(room)
                self._resumed_from.pop(room, None)
                if room in self.cursors and (room in reload or seq > self.cursors[room]):
                    self.cursors[room] = seq
            self.ready.set()
        elif kind == "message.ack":
            self._answer(frame["client_id"], ACK)
        elif kind == "message.rejected" and frame.get("client_id"):
            self._answer(frame["client_id"], f"rejected:{frame['reason']}")
        elif kind == "error" and frame.get("client_id"):
            self._answer(frame["client_id"], f"error:{frame['code']}")
        return None

    def _note_resume(self, cursors: dict[str, int]) -> None:
        # With two resumes of a room under way, the older cursor bounds what may come again.
        for room, cursor in cursors.items():
            self._resumed_from[room] = min(cursor, self._resumed_from.get(room, cursor))

    def _resume(self, room: str) -> dict[str, int] | None:
        self.gaps += 1
        if room in self._resuming:
            return None  # the resume under way brings it
        self._resuming.add(room)
        self._note_resume({room: self.cursors[room]})
        return {room: self.cursors[room]}

    def _answer(self, client_id: str, answer: str) -> None:
        future = self._pending.get(client_id)
        if future is not None and not future.done():
            future.set_result(answer)

    async def send(self, room: str, client_id: str, body: str, *, timeout: float = 30) -> Try:
        """One try; its answer is `ack`, `rejected:<reason>`, `error:<code>`, `dropped` (the socket
        closed first) or `timeout`."""
        await self.ready.wait()
        future = asyncio.get_running_loop().create_future()
        self._pending[client_id] = future
        sent_at = time.monotonic()
        try:
            await self.chat.send_message(room, body, client_id=client_id)
            async with asyncio.timeout(timeout):
                answer = await future
        except ConnectionClosed:
            answer = "dropped"
        except TimeoutError:
            answer = "timeout"
        finally:
            self._pending.pop(client_id, None)
        return Try(sent_at=sent_at, answer=answer, answered_at=time.monotonic())

    async def close(self) -> None:
        self._closing = True
        if self._resume_retry is not None:
            self._resume_retry.cancel()
        if self._task is not None:
            await self._task
        await self.chat.close()


class Workload:
    """Every member sends, in turn to each of its rooms, until told to stop; a send that is not
    acknowledged is retried with the same client_id (a retry never makes a second message)."""

    def __init__(self, members: dict[str, Member], rooms: dict[str, list[str]]) -> None:
        self.members = members
        self.rooms = rooms
        self.attempts: dict[str, Attempt] = {}
        self._stop = asyncio.Event()
        self._senders: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, member in self.members.items():
            self._senders.append(asyncio.create_task(self._send_steadily(name, member)))

    async def _send_steadily(self, name: str, member: Member) -> None:
        rooms = [room for room, names in self.rooms.items() if name in names]
        n = 0
        while not self._stop.is_set():
            room = rooms[n % len(rooms)]
            client_id = f"{name}-{n}-{uuid.uuid4().hex[:6]}"
            attempt = self.attempts[client_id] = Attempt(room=room, body=f"steady {client_id}")
            while True:
                one = await member.send(room, client_id, attempt.body)
                attempt.tries.append(one)
                if one.answer == ACK:
                    attempt.acked_at = one.answered_at
                    break
                # A send slowed down (rate limit, backpressure) goes again, like the browser's.
                if (
                    one.answer.startswith("rejected:") and one.answer != "rejected:rate_limited"
                ) or self._stop.is_set():
                    break
                await asyncio.sleep(0.5)
            n += 1
            await asyncio.sleep(PAUSE)

    async def acked_count_reaches(self, count: int, *, timeout: float = 120) -> None:
        if not await eventually(lambda: len(self.acked()) >= count, timeout=timeout):
            raise TimeoutError(f"{len(self.acked())} of {count} messages acknowledged after {timeout} s")

    async def stop(self) -> None:
        """Stops sending; a sender still waiting for a socket that never came back is cancelled."""
        self._stop.set()
        if not self._senders:
            return
        _, waiting = await asyncio.wait(self._senders, timeout=60)
        for sender in waiting:
            sender.cancel()
        for outcome in await asyncio.gather(*self._senders, return_exceptions=True):
            if isinstance(outcome, Exception):
                raise outcome

    def acked(self, *, before: float | None = None) -> dict[str, Attempt]:
        return {
            client_id: attempt
            for client_id, attempt in self.attempts.items()
            if attempt.acked_at is not None and (before is None or attempt.acked_at <= before)
        }

    def answered(self, answer: str) -> int:
        return sum(attempt.answers.count(answer) for attempt in self.attempts.values())

    def acked_between(self, start: float, end: float) -> list[str]:
        """The messages acknowledged to a try sent after `start` and answered before `end`."""
        return [
            client_id
            for client_id, attempt in self.attempts.items()
            if any(one.answer == ACK and one.sent_at > start and one.answered_at < end for one in attempt.tries)
        ]

    def unshown(self, client_ids: dict[str, Attempt]) -> dict[str, list[str]]:
        """For each member, the given messages of its rooms that its client was not shown."""
        missing = {}
        for name, member in self.members.items():
            absent = [
                cid
                for cid, attempt in client_ids.items()
                if attempt.room in member.shown and cid not in member.shown_at
            ]
            if absent:
                missing[name] = absent
        return missing


async def stored(rooms: list[str]) -> dict[str, list[dict[str, Any]]]:
    return {room: await stored_messages(room) for room in rooms}


async def settle(workload: Workload, since: float, *, timeout: float = 120) -> float | None:
    """Seconds from `since` until every message acknowledged by then is stored and shown to every
    member; None if that does not happen within `timeout`."""
    expected = workload.acked(before=since)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not workload.unshown(expected):
            try:
                documents = await stored(list(workload.rooms))
            except PyMongoError:
                documents = {}
            have = {doc.get("client_id") for docs in documents.values() for doc in docs}
            if have >= expected.keys():
                return time.monotonic() - since
        await asyncio.sleep(0.5)
    return None


async def recovery_time(workload: Workload, since: float, *, timeout: float = 120) -> float | None:
    """Seconds from `since` (the system whole again) until it has caught up (everything acknowledged
    before is stored and shown) and carries new messages again (the first one acknowledged after
    is shown to every member of its room); None if not within `timeout`."""
    caught_up = await settle(workload, since, timeout=timeout)
    if caught_up is None:
        return None

    def first_fresh_delivery() -> float | None:
        done = []
        for client_id, attempt in workload.acked().items():
            assert attempt.acked_at is not None
            members = [workload.members[name] for name in workload.rooms[attempt.room]]
            if attempt.acked_at > since and all(client_id in member.shown_at for member in members):
                done.append(max(member.shown_at[client_id] for member in members))
        return min(done, default=None)

    if not await eventually(lambda: first_fresh_delivery() is not None, timeout=timeout):
        return None
    fresh = first_fresh_delivery()
    assert fresh is not None
    return max(caught_up, fresh - since)


@dataclass
class Verdict:
    fault: str
    acknowledged: int
    unavailable: int
    lost_from_store: list[str]
    lost_from_clients: dict[str, list[str]]
    stored_twice: list[str]
    shown_twice: dict[str, list[str]]
    out_of_order: dict[str, list[str]]
    reconnects: int
    recovery_seconds: float | None

    @property
    def lost(self) -> int:
        return len(set(self.lost_from_store).union(*self.lost_from_clients.values()))

    @property
    def duplicated(self) -> int:
        return len(self.stored_twice) + sum(len(ids) for ids in self.shown_twice.values())

    def row(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unavailable": self.unavailable,
            "reconnects": self.reconnects,
            "recovery_seconds": None if self.recovery_seconds is None else round(self.recovery_seconds, 1),
        }


async def check(fault: str, workload: Workload, recovery_seconds: float | None) -> Verdict:
    """Compares the acknowledged messages with MongoDB and with every member's shown stream."""
    return judge(fault, workload, await stored(list(workload.rooms)), recovery_seconds)


def judge(
    fault: str, workload: Workload, documents: dict[str, list[dict[str, Any]]], recovery_seconds: float | None
) -> Verdict:
    acked = workload.acked()
    ours = set(workload.attempts)
    stored_ids = Counter(doc.get("client_id") for docs in documents.values() for doc in docs)
    shown_twice: dict[str, list[str]] = {}
    out_of_order: dict[str, list[str]] = {}
    for name, member in workload.members.items():
        for room, messages in member.shown.items():
            repeated = [mid for mid, count in Counter(m["id"] for m in messages).items() if count > 1]
            if repeated:
                shown_twice.setdefault(name, []).extend(repeated)
            seqs = [m["seq"] for m in messages]
            if seqs != sorted(seqs):
                out_of_order.setdefault(name, []).append(room)
    return Verdict(
        fault=fault,
        acknowledged=len(acked),
        unavailable=workload.answered("error:unavailable"),
        lost_from_store=sorted(cid for cid in acked if cid not in stored_ids),
        lost_from_clients=workload.unshown(acked),
        stored_twice=sorted(cid for cid, count in stored_ids.items() if cid in ours and count > 1),
        shown_twice=shown_twice,
        out_of_order=out_of_order,
        reconnects=sum(member.reconnects for member in workload.members.values()),
        recovery_seconds=recovery_seconds,
    )
