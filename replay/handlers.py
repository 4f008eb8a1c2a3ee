"""The `resume` frame: replay what a reconnecting client missed, then `resume.done`."""

from __future__ import annotations

import logging
from typing import Any

from chat.services import SendRefused, check_member, check_rate
from echostream.core import frames, wire
from replay import services

logger = logging.getLogger(__name__)

MAX_ROOMS_PER_RESUME = 500
# Room ids are 16 hex digits; a longer key is no room, and is not echoed back at length.
MAX_ROOM_ID_CHARS = 64


def _cursors(frame: dict[str, Any]) -> dict[str, int]:
    rooms = frame.get("rooms")
    if not isinstance(rooms, dict) or len(rooms) > MAX_ROOMS_PER_RESUME:
        raise frames.FrameError(
            "invalid_frame", f"resume needs `rooms`: {{room_id: last_seen_seq}}, at most {MAX_ROOMS_PER_RESUME}."
        )
    for room_id, seq in rooms.items():
        if len(room_id) > MAX_ROOM_ID_CHARS:
            raise frames.FrameError("invalid_frame", f"resume: room ids have at most {MAX_ROOM_ID_CHARS} characters.")
        if not frames.is_seq(seq, minimum=-1):
            raise frames.FrameError("invalid_frame", f"resume: the seq for room {room_id!r} must be an integer >= -1.")
    return rooms


@frames.register("resume")
async def handle_resume(connection: frames.Connection, frame: dict[str, Any]) -> None:
    # Live frames are held while this runs (see echostream.core.delivery); the socket
    # then drops those the replay covered.
    cursors = _cursors(frame)
    try:
        await check_rate(user_id=connection.user_id, kind="resume")
    except SendRefused as refusal:
        # The hold stays until a resume goes through or its grace ends.
        await connection.send_frame(refusal.frame(room=None))
        return
    connection.delivery.begin_resume()
    try:
        await _replay(connection, cursors)
    finally:
        connection.delivery.end_resume()
        await connection.release_held()


async def _replay(connection: frames.Connection, cursors: dict[str, int]) -> None:
    members: dict[str, int] = {}
    for room_id, after in cursors.items():
        try:
            await check_member(user_id=connection.user_id, room_id=room_id, known_member=connection.member_of(room_id))
        except SendRefused as refusal:
            await connection.send_frame(refusal.frame(room=room_id))
            continue
        members[room_id] = after
    # All the rooms at once: one wait for the bridges' store half, however many rooms.
    replays = await services.replay_rooms(members)
    done: dict[str, int] = {}
    reload: list[str] = []
    for room_id in members:
        replay = replays[room_id]
        # All of it, even what went out live before: the client's cursor says what it has.
        for replayed in replay.frames:
            await connection.send_frame(replayed)
        logger.info(
            "resume after %s replayed %d frame(s) up to seq; the socket had forwarded up to %s",
            cursors[room_id], len(replay.frames), connection.delivery.head(room_id),
            extra={"room": room_id, "seq": replay.seq},
        )  # fmt: skip
        connection.delivery.replayed(room_id, seq=replay.seq)
        done[room_id] = replay.seq
        if replay.reload:
            reload.append(room_id)
    await connection.send_frame(wire.ResumeDone(rooms=done, reload=reload))
