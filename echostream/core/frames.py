"""The registry that lets each app own the socket frames of its concern.

Apps register handlers from their AppConfig.ready(); the socket consumer looks a
frame's type up here and knows nothing else about it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from echostream.core import wire
from echostream.core.delivery import SocketDelivery
from echostream.core.events import MAX_SEQ

logger = logging.getLogger(__name__)

# Where the web role's queue stamps each frame received with the moment it arrived
# (time.monotonic()): the consumer reads it to know how long the frame waited to be handled.
ARRIVED_AT = "echostream.arrived_at"


class Connection(Protocol):
    """What a frame handler may use of the socket it serves."""

    user_id: str
    username: str
    channel_name: str
    # What the socket was sent of each room, and the live frames it holds back.
    delivery: SocketDelivery
    # What checks read about the user and keep for the socket's next frames; emptied when it
    # changes (`groups.forget_memos`).
    memo: dict[str, Any]
    # How long the frame being handled waited in this web process before it was read (seconds).
    waited: float

    async def send_frame(self, frame: wire.ServerFrame) -> None: ...

    def member_of(self, room_id: str) -> bool:
        """Whether the room is one of the user's as the socket last synced them, without a query.
        Behind the database for a moment after a change: true for a room the user just left, false
        for one just joined, until the `rooms.changed` on its way re-syncs the socket."""
        ...

    async def sync_rooms(self) -> None:
        """Re-reads the user's rooms (one query), joins and leaves their groups to match."""
        ...

    async def release_held(self) -> None:
        """Sends the live frames held back (unless a resume still runs), and stops holding."""
        ...

    async def finish_later(self, frame: dict[str, Any], rest: Coroutine[Any, Any, None]) -> None:
        """Runs the rest of a frame's handling (its answer, once Kafka has it) while the socket goes
        on reading, its errors answered as the handler's would be. A bounded number run at once;
        past that, this waits for one to finish, which slows the client down."""
        ...


def is_seq(value: object, *, minimum: int = 0) -> bool:
    """Whether a frame's value is a usable seq (JSON numbers may be any size, or booleans)."""
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= MAX_SEQ


class FrameError(Exception):
    """A frame that cannot be handled: answered with an `error` frame, socket kept open."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


Handler = Callable[[Connection, dict[str, Any]], Awaitable[None]]

_handlers: dict[str, Handler] = {}


def register(frame_type: str) -> Callable[[Handler], Handler]:
    def decorator(handler: Handler) -> Handler:
        if _handlers.get(frame_type, handler) is not handler:
            raise RuntimeError(f"two handlers registered for frame type {frame_type!r}")
        _handlers[frame_type] = handler
        return handler

    return decorator


def handler_for(frame_type: str) -> Handler | None:
    return _handlers.get(frame_type)


# Apps that care when a socket opens or closes (presence) hook in here.
LifecycleHook = Callable[[Connection], Awaitable[None]]
_connect_hooks: list[LifecycleHook] = []
_disconnect_hooks: list[LifecycleHook] = []


def on_connect(hook: LifecycleHook) -> LifecycleHook:
    _connect_hooks.append(hook)
    return hook


def on_disconnect(hook: LifecycleHook) -> LifecycleHook:
    _disconnect_hooks.append(hook)
    return hook


async def run_connect_hooks(connection: Connection) -> None:
    for hook in _connect_hooks:
        await hook(connection)


async def run_disconnect_hooks(connection: Connection) -> None:
    """Runs every hook, even when one fails: a hook that raises must not keep the
    others from releasing what they hold for the socket."""
    for hook in _disconnect_hooks:
        try:
            await hook(connection)
        except Exception:
            logger.exception("disconnect hook %s failed for %s", hook.__qualname__, connection.channel_name)
