"""A small asyncio queue for the two queues every open socket has.

Each socket has two queues that sit empty almost all the time: the web server's queue of ASGI
events for its application (echostream/web.py), and the channel layer's buffer of frames for its
channel. An `asyncio.Queue`
allocates four deques when made (items, getters, putters, and its `join` event's waiters), about
3 KB; at 10,000 sockets, 60 MB of empty deques. This queue has only what those two use
(`get`, `get_nowait`, `put_nowait`, `empty`, `qsize`, `full`), holds its items in a deque only
while there are any, and its waiting getters in a list only while one waits.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

Item = TypeVar("Item")


class LeanQueue(Generic[Item]):
    """FIFO like asyncio.Queue. With a `maxsize`, `put_nowait` on a full queue drops the oldest
    item to make room (the channel layer's rule: a consumer that stopped reading must not make
    the process hold its frames without end); without one it is unbounded."""

    __slots__ = ("_getters", "_items", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._items: collections.deque[Item] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= self.qsize()

    def put_nowait(self, item: Item) -> None:
        if self.full():
            self.get_nowait()
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self._wake_next()

    def get_nowait(self) -> Item:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    async def get(self) -> Item:
        while self.empty():
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                # As asyncio.Queue: a getter woken and then cancelled passes the wake-up on.
                getter.cancel()
                if self._getters is not None and getter in self._getters:
                    self._getters.remove(getter)
                if not self.empty() and not getter.cancelled():
                    self._wake_next()
                raise
        return self.get_nowait()

    def _wake_next(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if not self._getters:
            self._getters = None
