import asyncio
import logging

import pytest

from echostream.core import rounds

INTERVAL = 0.01


async def until(condition) -> None:
    # A busy machine may run a round late: wait for what it must do, not for a fixed time.
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - the jobs record into plain lists
            await asyncio.sleep(INTERVAL)


async def test_every_member_is_visited_each_round_from_one_task():
    seen: list[str] = []
    visits = rounds.Rounds("test", lambda: INTERVAL, lambda member: _record(seen, member))
    tasks_before = len(asyncio.all_tasks())
    for name in ("a", "b", "c"):
        visits.add(name)
    # One task for all members, not one each.
    assert len(asyncio.all_tasks()) == tasks_before + 1
    await until(lambda: {"a", "b", "c"} <= set(seen) and seen.count("a") >= 2)
    for name in ("a", "b", "c"):
        await visits.remove(name)


async def test_a_removed_member_is_not_visited_and_its_job_under_way_is_cancelled():
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(member: str) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    visits = rounds.Rounds("test", lambda: INTERVAL, slow)
    visits.add("a")
    async with asyncio.timeout(5):
        await started.wait()
    await visits.remove("a")
    # Done by the time remove returns: nothing of the member runs after it.
    assert cancelled.is_set()
    assert "a" not in visits and len(visits) == 0


async def test_a_failing_job_is_logged_and_the_rounds_go_on(caplog):
    calls: list[str] = []

    async def flaky(member: str) -> None:
        calls.append(member)
        if len(calls) == 1:
            raise RuntimeError("Redis went away for a round")

    visits = rounds.Rounds("test", lambda: INTERVAL, flaky)
    with caplog.at_level(logging.ERROR, logger="echostream.core.rounds"):
        visits.add("a")
        await until(lambda: len(calls) >= 2)
    assert any("failed" in record.getMessage() for record in caplog.records)
    await visits.remove("a")


async def test_members_not_due_are_skipped():
    seen: list[str] = []
    visits = rounds.Rounds("test", lambda: INTERVAL, lambda member: _record(seen, member), due=lambda m: m != "b")
    visits.add("a")
    visits.add("b")
    await until(lambda: seen.count("a") >= 2)
    assert "b" not in seen
    await visits.remove("a")
    await visits.remove("b")


async def test_the_task_ends_with_the_last_member():
    visits = rounds.Rounds("test", lambda: INTERVAL, lambda member: _record([], member))
    visits.add("a")
    task = visits._loops[asyncio.get_running_loop()].task
    assert task is not None
    await visits.remove("a")
    with pytest.raises(asyncio.CancelledError):
        await task


async def _record(seen: list[str], member: str) -> None:
    seen.append(member)
