import asyncio

import pytest

from echostream.core.leanqueue import LeanQueue


async def test_items_come_out_in_order_and_a_getter_waits_for_the_next():
    queue: LeanQueue[int] = LeanQueue()
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert (queue.qsize(), await queue.get(), await queue.get()) == (2, 1, 2)
    assert queue.empty()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    queue.put_nowait(3)
    assert await asyncio.wait_for(waiting, 1) == 3


async def test_a_full_bounded_queue_drops_its_oldest_item():
    queue: LeanQueue[int] = LeanQueue(2)
    for item in (1, 2, 3):
        queue.put_nowait(item)
    assert queue.full()
    assert [queue.get_nowait(), queue.get_nowait()] == [2, 3]
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_a_cancelled_getter_loses_nothing_and_passes_a_wake_up_on():
    queue: LeanQueue[str] = LeanQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("frame")
    # Woken, then cancelled before it took the item: the other getter gets it.
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "frame"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert queue.empty()


async def test_an_empty_queue_holds_no_deque_or_list():
    queue: LeanQueue[int] = LeanQueue()
    queue.put_nowait(1)
    await queue.get()
    assert (queue._items, queue._getters) == (None, None)
