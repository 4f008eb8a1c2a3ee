"""Live delivery of room events to one socket: the guarantee, and every decision it needs.

The guarantee: every room event the bridge showed reaches each member's socket that stays
open, once and in seq order, or the client can see exactly that it missed something and
resume. After a `resume`, the replayed and the live frames join without gap or duplicate.

How the parts keep it:

- The bridge shows an event once (chat's "shown" marks survive its restarts) and stamps each
  `message.new` / `message.updated` frame with `prev_seq`, the seq of the event it showed
  before in that room. The channel layer may still drop a frame (capacity, expiry): the next
  frame's `prev_seq` then names an event the client never got.
- The client keeps a cursor per room: the seq up to which it has everything. A frame whose
  `prev_seq` is at or below the cursor is contiguous (applied if its seq is above the cursor,
  which then moves to it); one whose `prev_seq` is above it shows a gap, and the client resumes
  the room from its cursor; a frame at or below the cursor is a duplicate. `resume.done`'s seq
  moves the cursor too.
- A resume's frames carry their own chain (`chained`): each one's `prev_seq` is the seq of the
  frame before it, the first one's the client's cursor, so the same rule applies to them.
- This socket (`SocketDelivery`) holds live frames while a resume replays, so that none
  overtakes the replay; it drops the live copy of an event the replay sent, and forwards the
  rest in order. A socket whose client said it will resume (`/ws/?resume=1`) holds them from
  the moment it opens until its first resume is done (or a grace period passes); any other
  socket gets live frames at once.
- A dropped frame with no frame after it leaves no `prev_seq` to show the gap. So the socket
  compares, now and then, the seq it forwarded last per room with the room's newest shown seq;
  when it stays behind, it tells the client `room.head` and the client resumes.
- Senders are slowed down (backpressure, see chat.backpressure) before the pipeline falls so
  far behind that the channel layer drops frames; the rule above repairs what is dropped anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import msgspec

from echostream.core import wire

logger = logging.getLogger(__name__)

Frame = dict[str, Any]

# Frames that show a room event: they carry its `seq` and `prev_seq`.
ROOM_EVENT_FRAMES = frozenset({"message.new", "message.updated"})
# Live frames held while a resume runs are few; a flood beyond this is dropped here, which
# the next frame's `prev_seq` shows the client like any other drop.
MAX_HELD = 5000


def is_room_event(frame: Frame) -> bool:
    return frame.get("type") in ROOM_EVENT_FRAMES


RoomEventFrame = TypeVar("RoomEventFrame", wire.MessageNew, wire.MessageUpdated)


def chained(frames: list[RoomEventFrame], *, after: int) -> list[RoomEventFrame]:
    """A resume's frames for one room, each with `prev_seq` set to the seq of the frame
    before it, the first one's to `after` (the client's cursor)."""
    previous = after
    linked = []
    for frame in frames:
        linked.append(msgspec.structs.replace(frame, prev_seq=previous))
        previous = frame.seq
    return linked


class SocketDelivery:
    """What one socket was sent of each room's events, and what it holds back."""

    def __init__(self, *, hold_until_resume: bool) -> None:
        # Per room: the seq of the last room event sent to the socket (or that its last
        # resume covered); a live frame at or below it is a copy of one already sent.
        self._heads: dict[str, int] = {}
        # Live frames held back while holding (None: not holding).
        self._held: list[Frame] | None = [] if hold_until_resume else None
        self._resumes = 0
        self._releasing = False
        self._overflowed = False
        # Per room: the room's newest seq when the socket was last seen behind it.
        self._behind: dict[str, int] = {}

    @property
    def resuming(self) -> bool:
        return self._resumes > 0

    def head(self, room_id: str) -> int | None:
        return self._heads.get(room_id)

    def rooms(self) -> list[str]:
        """The rooms this socket was sent events of."""
        return list(self._heads)

    def has_rooms(self) -> bool:
        """Whether this socket was sent events of any room."""
        return bool(self._heads)

    def offer(self, frame: Frame) -> Frame | None:
        """A live room-event frame came from the channel layer: the frame to send now, or
        None when it is held or is a copy of one already sent."""
        if self._held is not None:
            if len(self._held) < MAX_HELD:
                self._held.append(frame)
            elif not self._overflowed:
                self._overflowed = True
                logger.warning("a socket holds %d live frames; it drops more until it lets them go", MAX_HELD)
            return None
        return self._admit(frame)

    def _admit(self, frame: Frame) -> Frame | None:
        room_id, seq = frame["message"]["room"], frame["seq"]
        head = self._heads.get(room_id)
        if head is not None and seq <= head:
            return None
        self._heads[room_id] = seq
        return frame

    def begin_resume(self) -> None:
        """Live frames are held from now until the resume ends."""
        self._resumes += 1
        if self._held is None:
            self._held = []

    def replayed(self, room_id: str, *, seq: int) -> None:
        """A resume sent the room's events up to `seq` (trusting the client's cursor: it
        replayed everything after it, whatever this socket had sent live before)."""
        self._heads[room_id] = seq
        self._behind.pop(room_id, None)

    def end_resume(self) -> None:
        self._resumes -= 1

    def release(self) -> Iterator[Frame]:
        """Stops holding, unless a resume runs: yields the held frames to send, in order.
        Frames offered while the caller sends them are held and yielded too, so that none
        overtakes an older one; a second release meanwhile yields nothing."""
        if self._resumes or self._releasing or self._held is None:
            return
        self._releasing = True
        try:
            # A resume that begins meanwhile keeps the rest held: they must follow its replay.
            while self._held and not self._resumes:
                frame = self._admit(self._held.pop(0))
                if frame is not None:
                    yield frame
            if not self._resumes:
                self._held = None
                self._overflowed = False
        finally:
            self._releasing = False

    def missed_tails(self, newest: Mapping[str, int | None]) -> dict[str, int]:
        """Rooms whose newest shown seq (`newest`, per room) this socket has stayed behind
        since the previous look, with that seq: their last frames were dropped on the way.
        Only rooms the socket was sent something of count: the others' clients keep no cursor."""
        if self._resumes:
            return {}
        missed = {}
        for room_id, seq in newest.items():
            head = self._heads.get(room_id)
            if seq is None or head is None or seq <= head:
                self._behind.pop(room_id, None)
            elif self._behind.get(room_id) == seq:
                missed[room_id] = seq
            else:
                # Maybe only in flight: wait for the next look.
                self._behind[room_id] = seq
        return missed
