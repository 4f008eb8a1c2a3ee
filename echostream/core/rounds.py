"""Periodic work for every open socket, from one task per process.

A task and a timer per socket for each periodic job (presence heartbeats, the look at room
tails) is what an idle socket costs most: at 10,000 sockets, tens of thousands of sleeping
tasks with their coroutine frames, and as many timer wake-ups. A `Rounds`
runs one job over all of its members every interval instead, from a single task per event
loop (a process has one; tests make many), a few members at a time so that one slow member
does not hold up the round and a round does not flood Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Member = TypeVar("Member")

# Members whose jobs run at once within a round.
CONCURRENCY = 32


class _LoopRounds(Generic[Member]):
    __slots__ = ("members", "running", "task")

    def __init__(self) -> None:
        # Each member with the context it was added in (its log lines name its user, as when
        # its socket's own task ran the job); insertion-ordered, so rounds go in arrival order.
        self.members: dict[Member, contextvars.Context] = {}
        # The job under way for a member, so that removing the member can wait it out.
        self.running: dict[Member, asyncio.Future[None]] = {}
        self.task: asyncio.Task[None] | None = None


class Rounds(Generic[Member]):
    """Runs `job(member)` for each member every `interval()` seconds (read at each round, so a
    changed setting applies from the next). `due(member)`, when given, skips a member without
    scheduling anything for it. A job's exception is logged and the rounds go on."""

    def __init__(
        self,
        name: str,
        interval: Callable[[], float],
        job: Callable[[Member], Awaitable[None]],
        *,
        due: Callable[[Member], bool] | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self.job = job
        self.due = due
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopRounds[Member]] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return sum(len(rounds.members) for rounds in self._loops.values())

    def __contains__(self, member: object) -> bool:
        return any(member in rounds.members for rounds in self._loops.values())

    def add(self, member: Member) -> None:
        loop = asyncio.get_running_loop()
        rounds = self._loops.get(loop)
        if rounds is None:
            rounds = self._loops[loop] = _LoopRounds()
        rounds.members[member] = contextvars.copy_context()
        if rounds.task is None or rounds.task.done():
            # A context of its own: the rounds are the process's, not the user's whose socket
            # happened to start them (whose user_id that socket's task binds for its log lines).
            rounds.task = loop.create_task(self._run(rounds), name=f"rounds:{self.name}", context=contextvars.Context())

    async def remove(self, member: Member) -> None:
        """Takes the member out; a job of its under way is cancelled and waited for, so that
        nothing of the member's runs after this returns."""
        rounds = self._loops.get(asyncio.get_running_loop())
        if rounds is None:
            return
        rounds.members.pop(member, None)
        running = rounds.running.get(member)
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        if not rounds.members and rounds.task is not None:
            # Nothing to do: no task lingers in an idle process (nor in a test's closing loop).
            rounds.task.cancel()
            rounds.task = None

    async def _run(self, rounds: _LoopRounds[Member]) -> None:
        loop = asyncio.get_running_loop()
        next_round = loop.time() + self.interval()
        while True:
            await asyncio.sleep(max(0.0, next_round - loop.time()))
            # Rounds keep their rate however long one takes (thousands of heartbeats): a member's
            # beats stay an interval apart, well within the presence TTL.
            next_round = loop.time() + self.interval()
            members = [member for member in rounds.members if self.due is None or self.due(member)]
            for start in range(0, len(members), CONCURRENCY):
                batch = [member for member in members[start : start + CONCURRENCY] if member in rounds.members]
                for member in batch:
                    rounds.running[member] = loop.create_task(self._one(member), context=rounds.members[member])
                try:
                    await asyncio.gather(*(rounds.running[member] for member in batch), return_exceptions=True)
                finally:
                    for member in batch:
                        rounds.running.pop(member, None)

    async def _one(self, member: Member) -> None:
        try:
            await self.job(member)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s of %r failed; the next round tries again", self.name, member)
