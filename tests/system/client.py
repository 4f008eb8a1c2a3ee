"""A real EchoStream client for system tests and benchmarks: HTTP via httpx, the socket via websockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from echostream.core import wire


class ContractViolation(AssertionError):
    """The server sent a frame that docs/protocol.md does not allow."""


class ChatClient:
    def __init__(self, base_url: str, *, follows_rooms: bool = True) -> None:
        """`follows_rooms`: the client keeps its rooms' cursors and resumes a gap by itself
        (`RoomCursors`); a caller that resumes by its own rule (the fault suite's members) turns
        it off, or each gap would be resumed twice."""
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=20)
        self.socket: ClientConnection | None = None
        self.frames: asyncio.Queue[dict[str, Any] | ContractViolation] = asyncio.Queue()
        self.username = ""
        self._reader: asyncio.Task[None] | None = None
        self.rooms = RoomCursors()
        self.follows_rooms = follows_rooms
        self.resumes_refused = 0  # resumes the server refused with rate_limited (each sent again)
        self._resume_retry: asyncio.Task[None] | None = None
        # When each message's first `message.new` reached this client (time.monotonic()).
        self.arrived_at: dict[str, float] = {}

    async def _csrf(self) -> str:
        response = await self.http.get("/api/auth/csrf/")
        response.raise_for_status()
        return response.json()["csrfToken"]

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(path, json=body, headers={"X-CSRFToken": await self._csrf()})

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(path, headers={"X-CSRFToken": await self._csrf()})

    async def signup(self, username: str, password: str = "correct-horse-battery") -> dict[str, Any]:
        response = await self.post("/api/auth/signup/", {"username": username, "password": password})
        assert response.status_code == 201, response.text
        self.username = username
        return response.json()

    async def create_group(self, name: str, members: list[str]) -> dict[str, Any]:
        response = await self.post("/api/rooms/", {"name": name, "members": members})
        assert response.status_code == 201, response.text
        return response.json()

    async def open_dm(self, username: str) -> dict[str, Any]:
        response = await self.post("/api/dms/", {"username": username})
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def add_member(self, room_id: str, username: str) -> httpx.Response:
        return await self.post(f"/api/rooms/{room_id}/members/", {"username": username})

    async def remove_member(self, room_id: str, username: str) -> httpx.Response:
        """Removes a member (a room admin), or leaves (one's own username)."""
        return await self.delete(f"/api/rooms/{room_id}/members/{username}/")

    async def history(self, room_id: str, **params: int) -> httpx.Response:
        return await self.http.get(f"/api/rooms/{room_id}/messages/", params=params)

    def _cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    async def connect(
        self,
        *,
        origin: str | None = None,
        with_session: bool = True,
        resume: bool = True,
        will_resume: bool | None = None,
    ) -> None:
        """Opens the socket; like a real client, first resumes the rooms it follows from their
        cursors (their replayed frames are applied, not queued before `resume.done`). `resume=False`
        leaves that to the test. `will_resume` (by default: `resume`) opens the socket as
        `/ws/?resume=1`, so that the server holds live events until the first resume is done;
        without it the socket gets live frames at once (docs/protocol.md)."""
        will_resume = resume if will_resume is None else will_resume
        ws_url = self.base_url.replace("http://", "ws://") + ("/ws/?resume=1" if will_resume else "/ws/")
        headers = {"Cookie": self._cookie_header()} if with_session else {}
        self.socket = await connect(ws_url, origin=origin or self.base_url, additional_headers=headers, max_size=None)
        self._reader = asyncio.create_task(self._read())
        if resume and with_session:
            await self._resumed(lambda: dict(self.rooms.cursors), timeout=60)

    async def _resumed(self, rooms: Callable[[], dict[str, int]], *, timeout: float) -> dict[str, Any]:
        """Sends `resume {rooms: rooms()}` and waits for `resume.done`, dropping the frames before it;
        a resume refused with `rate_limited` goes again after `retry_after`, from the cursors as they
        are then (docs/protocol.md, "Retrying after rate_limited")."""
        async with asyncio.timeout(timeout):
            while True:
                await self.send_frame({"type": "resume", "rooms": rooms()})
                while True:
                    frame = await self._next()
                    if frame["type"] == "resume.done":
                        return frame
                    if refused_resume(frame):
                        await asyncio.sleep(frame["retry_after"])
                        break

    async def _read(self) -> None:
        assert self.socket is not None
        try:
            async for raw in self.socket:
                frame = _checked(raw)
                if not isinstance(frame, ContractViolation):
                    if frame["type"] == "message.new":
                        self.arrived_at.setdefault(frame["message"]["id"], time.monotonic())
                    if self.follows_rooms:
                        await self._follow(frame)
                await self.frames.put(frame)
        except ConnectionClosed:
            pass

    async def _next(self) -> dict[str, Any]:
        frame = await self.frames.get()
        if isinstance(frame, ContractViolation):
            raise frame
        return frame

    async def close_code(self, timeout: float = 10) -> int | None:
        """Waits until the server closes the socket; the code it closed with."""
        assert self.socket is not None and self._reader is not None
        async with asyncio.timeout(timeout):
            await self._reader
        return self.socket.close_code

    async def send_frame(self, frame: dict[str, Any] | str) -> None:
        assert self.socket is not None
        await self.socket.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def send_message(
        self, room_id: str, body: str, client_id: str | None = None, *, attachments: list[str] | None = None
    ) -> str:
        client_id = client_id or uuid.uuid4().hex
        frame = {"type": "message.send", "room": room_id, "client_id": client_id, "body": body}
        if attachments is not None:
            frame["attachments"] = attachments
        await self.send_frame(frame)
        return client_id

    async def upload(
        self, room_id: str, data: bytes, filename: str, content_type: str = "application/octet-stream"
    ) -> httpx.Response:
        """POSTs a file to the room's attachments (multipart `file`), as the browser does."""
        return await self.http.post(
            f"/api/rooms/{room_id}/attachments/",
            files={"file": (filename, data, content_type)},
            headers={"X-CSRFToken": await self._csrf()},
        )

    async def edit(self, room_id: str, message_id: str, body: str) -> None:
        await self.send_frame({"type": "message.edit", "room": room_id, "id": message_id, "body": body})

    async def delete_message(self, room_id: str, message_id: str) -> None:
        await self.send_frame({"type": "message.delete", "room": room_id, "id": message_id})

    async def disconnect(self) -> None:
        """Closes the socket only (the session stays), dropping frames not yet read."""
        assert self.socket is not None and self._reader is not None
        await self.socket.close()
        await self._reader
        self.frames = asyncio.Queue()

    async def until(self, frame_type: str, *, timeout: float = 20) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every frame before the next `frame_type` one, and that one."""
        before = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self._next()
                if frame["type"] == frame_type:
                    return before, frame
                before.append(frame)

    async def next_frame(self, *types: str, timeout: float = 10) -> dict[str, Any]:
        """The next frame of one of `types` (any type when none given); others are dropped."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self._next()
                if not types or frame["type"] in types:
                    return frame

    async def collect(self, frame_type: str, count: int, *, timeout: float = 20) -> list[dict[str, Any]]:
        return [await self.next_frame(frame_type, timeout=timeout) for _ in range(count)]

    async def quiet_frames(self, seconds: float) -> list[dict[str, Any]]:
        """Every frame that arrives within `seconds`."""
        seen: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    seen.append(await self._next())
        except TimeoutError:
            return seen

    # --- Following rooms as a client must (docs/protocol.md, "Gaps and resuming") ---------

    async def follow(self, cursors: dict[str, int]) -> None:
        """Keeps a cursor for these rooms from the given seqs (-1: from the start), resumes them,
        and waits for `resume.done`; from then on, a gap makes the client resume by itself."""
        for room_id, seq in cursors.items():
            self.rooms.cursors[room_id] = seq
        await self._resumed(lambda: {room_id: self.rooms.cursors[room_id] for room_id in cursors}, timeout=120)

    async def _follow(self, frame: dict[str, Any]) -> None:
        if refused_resume(frame):
            # Perhaps the resume of a gap: those still unanswered go again after retry_after.
            self.resumes_refused += 1
            if self.rooms.awaiting() and (self._resume_retry is None or self._resume_retry.done()):
                self._resume_retry = asyncio.create_task(self._resume_awaiting_after(frame["retry_after"]))
            return
        resume_from = self.rooms.take(frame)
        if resume_from is not None and self.socket is not None:
            await self.socket.send(json.dumps({"type": "resume", "rooms": resume_from}))

    async def _resume_awaiting_after(self, seconds: float) -> None:
        socket = self.socket
        await asyncio.sleep(seconds)
        awaiting = self.rooms.awaiting()
        if awaiting and socket is not None and self.socket is socket:
            with contextlib.suppress(ConnectionClosed):
                await socket.send(json.dumps({"type": "resume", "rooms": awaiting}))

    async def close(self) -> None:
        if self._resume_retry is not None:
            self._resume_retry.cancel()
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            self._reader.cancel()
        await self.http.aclose()


def refused_resume(frame: dict[str, Any]) -> bool:
    """Whether the frame refuses a `resume` for now: `rate_limited`, naming no send, message or room."""
    return (
        frame.get("type") == "message.rejected"
        and frame.get("reason") == "rate_limited"
        and frame.get("client_id") is None
        and frame.get("room") is None
        and "id" not in frame
    )


def _checked(raw: str | bytes) -> dict[str, Any] | ContractViolation:
    """The frame as plain data, once it has been read strictly against the typed frames of
    echostream.core.wire: a missing, mistyped or unknown field fails the test that reads it."""
    try:
        wire.decode_strictly(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return ContractViolation(f"frame breaks the contract ({exc}): {raw!r}")
    return json.loads(raw)


class RoomCursors:
    """A client's view of its rooms under the delivery rule: per room, the cursor (the seq up to
    which it has every event) and the room events it applied, each once, in seq order."""

    def __init__(self) -> None:
        self.cursors: dict[str, int] = {}
        self.applied: dict[str, list[dict[str, Any]]] = {}
        self.gaps = 0  # times it saw that it missed something (and resumed)
        self.duplicates = 0
        self._resuming: set[str] = set()

    def take(self, frame: dict[str, Any]) -> dict[str, int] | None:
        """Applies a frame; the `resume` cursors to send when it shows that something was missed."""
        kind = frame.get("type")
        if kind in ("message.new", "message.updated"):
            return self._room_event(frame)
        if kind == "resume.done":
            reload = set(frame.get("reload", []))
            for room_id, seq in frame["rooms"].items():
                self._resuming.discard(room_id)
                if room_id in reload or seq > self.cursors.get(room_id, -1):
                    self.cursors[room_id] = seq
        elif kind == "room.head":
            room_id = frame["room"]
            if room_id in self.cursors and frame["seq"] > self.cursors[room_id]:
                self.gaps += 1
                return self._resume(room_id)
        return None

    def _room_event(self, frame: dict[str, Any]) -> dict[str, int] | None:
        room_id, seq, prev_seq = frame["message"]["room"], frame["seq"], frame.get("prev_seq")
        cursor = self.cursors.get(room_id)
        if cursor is None:
            cursor = seq  # a room seen for the first time: followed from here on
        elif seq <= cursor:
            self.duplicates += 1
            return None
        elif not _contiguous(prev_seq, cursor):
            self.gaps += 1
            return self._resume(room_id)
        self.cursors[room_id] = seq
        self.applied.setdefault(room_id, []).append(frame)
        return None

    def awaiting(self) -> dict[str, int]:
        """The rooms resumed for a gap and not answered yet, from their cursors now: what to resume
        again when a resume was refused (`rate_limited`)."""
        return {room_id: self.cursors[room_id] for room_id in self._resuming}

    def _resume(self, room_id: str) -> dict[str, int] | None:
        if room_id in self._resuming:
            return None  # the resume under way covers it
        self._resuming.add(room_id)
        return {room_id: self.cursors[room_id]}


def _contiguous(prev_seq: int | None, cursor: int) -> bool:
    # None: the server knows no earlier event in the room, which is sure only for a client that has none.
    return cursor < 0 if prev_seq is None else prev_seq <= cursor


async def milestone(reached: asyncio.Event, sender: asyncio.Task[None]) -> None:
    """Waits until the sender reaches the milestone; a sender that failed first fails the test."""
    waiting = asyncio.create_task(reached.wait())
    await asyncio.wait([waiting, sender], return_when=asyncio.FIRST_COMPLETED)
    if not reached.is_set():
        waiting.cancel()
        sender.result()
        raise AssertionError("the sender stopped before the milestone")
