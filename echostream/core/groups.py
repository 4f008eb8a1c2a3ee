"""Channel-layer groups: every socket of a user, and every socket of a room's members.

A socket joins `user.<id>` and one `room.<id>` group per room of its user. Frames
sent here travel as plain data and reach the sockets as they are; `rooms.changed`
tells a user's sockets to recompute which room groups they belong to, and then to
send the frame it may carry; `memo.forget` empties what checks kept about the user;
`session.ended` closes them (4401).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from channels.layers import get_channel_layer

from echostream.core import wire

DELIVER = "deliver.frame"
ROOMS_CHANGED = "rooms.changed"
SESSION_ENDED = "session.ended"
FORGET_MEMO = "memo.forget"


def room_group(room_id: str) -> str:
    return f"room.{room_id}"


def user_group(user_id: str) -> str:
    return f"user.{user_id}"


def _room_delivery(frame: wire.ServerFrame, occurred_at: datetime | None) -> dict[str, object]:
    message: dict[str, object] = {"type": DELIVER, "frame": wire.to_builtins(frame)}
    if occurred_at is not None:
        message["occurred_at"] = occurred_at.timestamp()
    return message


async def send_to_room(room_id: str, frame: wire.ServerFrame, *, occurred_at: datetime | None = None) -> None:
    """`occurred_at`, the time of the event the frame shows, travels beside the frame (not in it:
    the frame is the client's contract) for the sockets' delivery latency."""
    await get_channel_layer().group_send(room_group(room_id), _room_delivery(frame, occurred_at))


async def send_to_rooms(deliveries: Sequence[tuple[str, wire.ServerFrame, datetime | None]]) -> None:
    """`send_to_room` for each (room id, frame, occurred_at), in order, in one round trip."""
    await get_channel_layer().group_send_many(
        [(room_group(room_id), _room_delivery(frame, occurred_at)) for room_id, frame, occurred_at in deliveries]
    )


async def send_to_user(user_id: str, frame: wire.ServerFrame) -> None:
    await get_channel_layer().group_send(user_group(user_id), {"type": DELIVER, "frame": wire.to_builtins(frame)})


async def tell_rooms_changed(user_id: str, frame: wire.ServerFrame | None = None) -> None:
    """Each socket of the user re-syncs its room groups, then sends `frame` (a room the user
    joined or left): a message sent to a room just after it was joined cannot miss the socket."""
    event: dict[str, object] = {"type": ROOMS_CHANGED}
    if frame is not None:
        event["frame"] = wire.to_builtins(frame)
    await get_channel_layer().group_send(user_group(user_id), event)


async def forget_memos(user_id: str) -> None:
    """Each socket of the user forgets what checks kept about the user (`frames.Connection.memo`):
    it changed (a mute or ban given or lifted)."""
    await get_channel_layer().group_send(user_group(user_id), {"type": FORGET_MEMO})


async def end_sessions(user_id: str) -> None:
    """Closes every socket of the user: they signed out, were deactivated or changed password."""
    await get_channel_layer().group_send(user_group(user_id), {"type": SESSION_ENDED})
