"""The one WebSocket endpoint: authenticates, parses each frame and hands it to the
handler that its app registered. All rooms of a client share this one socket."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import msgspec
from channels.generic.websocket import AsyncWebsocketConsumer
from django import db
from django.conf import settings

from chat import cache
from chat.selectors import aroom_ids_of
from echostream import logs
from echostream.core import channel_layer, delivery, events, frames, groups, metrics, redis, rounds, wire
from presence import services as presence

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# The user has settings.WEBSOCKET_MAX_SOCKETS_PER_USER sockets open already (as HTTP's 429).
CLOSE_TOO_MANY_SOCKETS = 4429
# A client that opens its socket with `?resume=1` resumes as soon as it opens. Until that
# resume is done (or this long has passed), live room events are held back, so that none
# overtakes the older events the resume replays. Other sockets get them at once.
RESUME_GRACE_SECONDS = 2.0
# A closing socket waits this long for the answers of its sends in flight: more than the
# producer's message.timeout.ms, by which Kafka has answered every one.
FINISHING_WAIT_SECONDS = 15.0
# Frames of the channel layer handled in one turn, after the one channels' loop hands over
# (channel_layer.take_waiting): enough for a burst, few enough not to hold the process long.
WAITING_PER_TURN = 100

# msgspec's decoder counts its depth and raises RecursionError instead of overflowing
# the stack (json.loads does not), and refuses lone surrogates.
_decode_json = msgspec.json.Decoder().decode


class _Correlation(msgspec.Struct):
    """What an oversized frame names, so that its refusal can say which send it was."""

    client_id: str | None = None
    room: str | None = None


@frames.register("ping")
async def handle_ping(connection: frames.Connection, frame: dict[str, Any]) -> None:
    await connection.send_frame(wire.Pong())


def _string(frame: dict[str, Any], name: str) -> str | wire.UnsetType:
    value = frame.get(name)
    return value if isinstance(value, str) and value else wire.UNSET


_FRAME_TYPE = re.compile(r"\A[a-z][a-z._]{0,39}\Z")


def _frame_type(frame: dict[str, Any]) -> str:
    # Only what looks like a frame type: a type outside the contract could be anything.
    kind = frame.get("type")
    return kind if isinstance(kind, str) and _FRAME_TYPE.match(kind) else "malformed"


def _frame_fields(frame: dict[str, Any]) -> dict[str, Any]:
    """The room, seq and message id of a frame from the channel layer, for a log line."""
    message = frame.get("message") if isinstance(frame.get("message"), dict) else {}
    room = frame.get("room", message.get("room"))
    seq, message_id = frame.get("seq"), message.get("id")
    return {
        "room": room if events.is_room_id(room) else None,
        "seq": seq if type(seq) is int else None,
        "message_id": message_id if isinstance(message_id, str) and len(message_id) <= 64 else None,
    }


class ChatConsumer(AsyncWebsocketConsumer):
    user_id: str
    username: str
    # How long the frame being handled waited in this process (frames.ARRIVED_AT); 0 when the
    # server does not stamp them (uvicorn, the tests' communicator).
    waited: float = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # However the socket ends (a close, a cancelled task, an exception anywhere),
        # what it holds is released: presence, groups, background tasks.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a close code can only be sent on an open socket.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await presence.do_admit_connection(user_id=str(user.pk), connection_id=self.channel_name):
            logger.info("socket of user %s refused: too many open", user.pk, extra={"user_id": str(user.pk)})
            await self.accept()
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        self.user_id = str(user.pk)
        self.username = user.get_username()
        # Every line this socket's task (and the tasks it starts) logs names its user.
        logs.bind(user_id=self.user_id)
        logger.debug("socket %s of user %s opened", self.channel_name, self.user_id)
        # The user's rooms as last read from the database, and the groups this socket is in for them.
        self.room_ids: frozenset[str] = frozenset()
        self.room_groups: set[str] = set()
        will_resume = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("resume") == ["1"]
        self.delivery = delivery.SocketDelivery(hold_until_resume=will_resume)
        self.memo: dict[str, Any] = {}
        self._background: list[asyncio.Task[None]] = []
        # Frames whose answer waits for Kafka (finish_later): finished, not cancelled, on close.
        self._finishing: set[asyncio.Task[None]] = set()
        self._released = False
        # Taken down again by `_release`, which runs once for every socket that got this far.
        metrics.CONNECTED_SOCKETS.labels(role=metrics.WEB).inc()
        await self.accept()
        await self.channel_layer.group_add(groups.user_group(self.user_id), self.channel_name)
        await self.sync_rooms()
        await frames.run_connect_hooks(self)
        _tail_watch.add(self)
        if will_resume:
            self._background.append(asyncio.create_task(self._release_after_grace()))

    async def dispatch(self, message: dict[str, Any]) -> None:
        await self._dispatch_one(message)
        if message["type"] == groups.DELIVER:
            for waiting in channel_layer.take_waiting(self.channel_layer, self.channel_name, limit=WAITING_PER_TURN):
                await self._dispatch_one(waiting)

    async def _dispatch_one(self, message: dict[str, Any]) -> None:
        # Channels renews the database connection before every handler (see `receive`): a hop to
        # the ORM's thread for each frame shown to each member, most of a busy socket's work.
        # Showing a frame never touches the database, so it goes straight to its handler. The
        # async ORM of every socket of the process runs in one thread, on one connection, so one
        # renewal serves them all: a frame received soon after the last one skips it too.
        if message["type"] == groups.DELIVER:
            await self.deliver_frame(message)
            return
        if message["type"] == "websocket.receive":
            arrived = message.get(frames.ARRIVED_AT)
            self.waited = time.monotonic() - arrived if isinstance(arrived, float) else 0.0
            if not _renewal.due():
                await self.websocket_receive(message)
                return
        _renewal.done()
        await super().dispatch(message)

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        """Stops the socket's tasks, runs the disconnect hooks and leaves its groups; once,
        and each step even when an earlier one failed."""
        if not hasattr(self, "user_id") or self._released:
            return
        self._released = True
        metrics.CONNECTED_SOCKETS.labels(role=metrics.WEB).dec()
        logger.debug("socket %s of user %s closes", self.channel_name, self.user_id)
        await _tail_watch.remove(self)
        # Each was produced: its answer can no longer be sent, but it is remembered as acknowledged
        # (chat.services.do_submit_message) once Kafka answers, which it does within its timeout.
        if self._finishing:
            await asyncio.wait(self._finishing, timeout=FINISHING_WAIT_SECONDS)
        for task in self._background:
            task.cancel()
        for task in self._background:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                logger.exception("background task of %s had failed", self.channel_name)
        await frames.run_disconnect_hooks(self)
        for group in [groups.user_group(self.user_id), *self.room_groups]:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.exception("%s could not leave %s", self.channel_name, group)

    # Each incoming frame is this socket's request: Django renews database connections only at
    # HTTP request boundaries, and a socket lives for hours, so a connection that a database
    # restart broke would fail every later query. Channels' AsyncConsumer.dispatch (4.3) already
    # awaits aclose_old_connections() before every handler, this one included, in the sync thread
    # where the async ORM (aexists, aget...) runs; with CONN_HEALTH_CHECKS the kept connection is
    # then tried before the frame's first query and replaced if broken. Calling it again here would
    # only add a second hop to that thread per frame; database_sync_to_async would mean rewriting
    # every async query as a sync function, for the same check. The system test
    # tests/system/test_database_restart.py holds this (a socket's next frame after a restart).
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error("invalid_frame", "Frames are JSON text, not binary.")
            return
        # The size first: nothing is parsed beyond the limit.
        limit = settings.WEBSOCKET_MAX_FRAME_BYTES
        if len(text_data) > limit or len(text_data.encode("utf-8", "surrogatepass")) > limit:
            await self._refuse_too_large(text_data)
            return
        try:
            frame = _decode_json(text_data)
        except Exception:
            # Whatever the parser raises (bad syntax, lone surrogates, nesting too deep,
            # numbers out of range) is the client's bad input.
            await self._error("invalid_json", "The frame is not JSON (UTF-8 text, nested at most a few hundred deep).")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._error("invalid_frame", "A frame is a JSON object with a string `type`.")
            return
        handler = frames.handler_for(frame["type"])
        if handler is None:
            await self._error("unknown_type", f"Unknown frame type {frame['type'][:64]!r}.")
            return
        await self._answering(frame, handler(self, frame))

    async def finish_later(self, frame: dict[str, Any], rest: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._answering(frame, rest))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        # Waiting after this frame's send was produced, not before the next one's, keeps the
        # number of sends produced and not yet answered at the limit, not one above it.
        while len(self._finishing) >= settings.WEBSOCKET_SENDS_IN_FLIGHT:
            await asyncio.wait(self._finishing, return_when=asyncio.FIRST_COMPLETED)

    async def _answering(self, frame: dict[str, Any], handling: Awaitable[None]) -> None:
        """Awaits a frame's handling; what it raises becomes the error frame the client can match."""
        try:
            await handling
        except frames.FrameError as exc:
            # Name what failed, so the client knows which send, edit or delete to retry.
            await self._error(exc.code, exc.detail, client_id=_string(frame, "client_id"), id=_string(frame, "id"))
        except (db.OperationalError, db.InterfaceError) as exc:
            # The database cannot be reached (restarting, say): as when Kafka does not take a send,
            # the client is told to send it again (same client_id), not left to time out. The next
            # frame gets a new connection (see above).
            logger.warning("handler for %s: the database cannot be reached: %s", frame["type"], exc)
            await self._unavailable(frame, "The database cannot be reached; send it again.")
        except Exception as exc:
            if redis.is_outage(exc):
                # Likewise Redis (rate limits, backpressure, the ack cache): an answer the client
                # can match to its send, not `internal` with nothing to match, which left it waiting.
                logger.warning("handler for %s: Redis cannot be reached: %s", frame["type"], exc)
                await self._unavailable(frame, "Redis cannot be reached; send it again.")
                return
            # The frame itself stays out of the log: it may be a message's text.
            room = frame.get("room")
            logger.exception(
                "handler for %s failed", frame["type"], extra={"room": room if events.is_room_id(room) else None}
            )
            await self._error("internal", "The server could not handle that frame.")

    async def _unavailable(self, frame: dict[str, Any], detail: str) -> None:
        await self._error("unavailable", detail, client_id=_string(frame, "client_id"), id=_string(frame, "id"))

    async def _refuse_too_large(self, text_data: str) -> None:
        try:
            named = msgspec.json.decode(text_data, type=_Correlation)
        except Exception:
            named = _Correlation()
        await self.send_frame(
            wire.MessageRejected(
                # Echoed only when they could be real: no one's id fills a frame.
                client_id=named.client_id if named.client_id and len(named.client_id) <= 128 else None,
                room=named.room if named.room and len(named.room) <= 64 else None,
                reason="too_large",
                detail=f"Frames are limited to {settings.WEBSOCKET_MAX_FRAME_BYTES} bytes.",
            )
        )

    async def send_frame(self, frame: wire.ServerFrame | dict[str, Any]) -> None:
        # Refusals this process made. A moderation worker's come through the channel layer as
        # plain data, once to each of the sender's sockets; the worker counts each once itself.
        if isinstance(frame, wire.MessageRejected):
            metrics.refused(role=metrics.WEB, reason=frame.reason)
        elif isinstance(frame, wire.Error):
            metrics.refused(role=metrics.WEB, reason=frame.code)
        text = _contract_text(frame) if isinstance(frame, dict) else wire.encode(frame)
        if text is not None:
            await self.send(text_data=text)

    async def _error(
        self,
        code: str,
        detail: str,
        *,
        client_id: str | wire.UnsetType = wire.UNSET,
        id: str | wire.UnsetType = wire.UNSET,
    ) -> None:
        await self.send_frame(wire.Error(code=code, detail=detail, client_id=client_id, id=id))

    async def release_held(self) -> None:
        for frame in self.delivery.release():
            await self.send_frame(frame)
            # Held back behind a resume: its latency would measure the resume, not the pipeline.
            metrics.frame_delivered(frame_type=frame["type"])

    async def _release_after_grace(self) -> None:
        await asyncio.sleep(RESUME_GRACE_SECONDS)
        # A resume under way releases them itself once its replay is out.
        await self.release_held()

    async def look_at_tails(self) -> None:
        rooms = [room_id for room_id in self.delivery.rooms() if groups.room_group(room_id) in self.room_groups]
        try:
            newest = await cache.last_seqs(rooms)
        except redis.RedisError as exc:
            logger.warning("cannot look for dropped room frames now: %s", exc)
            return
        for room_id, seq in self.delivery.missed_tails(newest).items():
            # Rare, and each one costs a resume: worth a line when delivery is in question.
            logger.info(
                "room.head: the socket forwarded up to %s, behind the room's newest shown event",
                self.delivery.head(room_id),
                extra={"room": room_id, "seq": seq},
            )
            await self.send_frame(wire.RoomHead(room=room_id, seq=seq))

    def member_of(self, room_id: str) -> bool:
        return room_id in self.room_ids

    async def sync_rooms(self) -> None:
        room_ids = frozenset(await aroom_ids_of(user_id=self.user_id))
        # Known before the groups are joined or left: a Redis error there must not leave the
        # socket believing in a membership that the database has ended.
        self.room_ids = room_ids
        wanted = {groups.room_group(room_id) for room_id in room_ids}
        for group in wanted - self.room_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.room_groups - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.room_groups = wanted

    # Channel-layer events (see echostream.core.groups).
    async def deliver_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        if frame.get("type") == "typing" and frame.get("user") == self.username:
            return  # the typist's own sockets are not told they type
        if not delivery.is_room_event(frame):
            await self._send_shared(event)
        elif (admitted := self.delivery.offer(frame)) is frame:
            if await self._send_shared(event):
                metrics.frame_delivered(frame_type=frame["type"], occurred_at=event.get("occurred_at"))
        elif admitted is not None:
            await self.send_frame(admitted)
            metrics.frame_delivered(frame_type=admitted["type"], occurred_at=event.get("occurred_at"))

    async def _send_shared(self, event: dict[str, Any]) -> bool:
        """Sends the event's frame; whether it was sent (not outside the contract). The process's
        sockets share `event` (channel_layer): the frame is checked and encoded once for all."""
        if _TEXT not in event:
            event[_TEXT] = _contract_text(event["frame"])
        if event[_TEXT] is None:
            return False
        await self.send(text_data=event[_TEXT])
        return True

    async def rooms_changed(self, event: dict[str, Any]) -> None:
        await self.sync_rooms()
        if "frame" in event:
            await self.send_frame(event["frame"])

    async def memo_forget(self, event: dict[str, Any]) -> None:
        self.memo.clear()

    async def session_ended(self, event: dict[str, Any]) -> None:
        # The credentials this socket was opened with are no longer good.
        await self.close(code=CLOSE_UNAUTHENTICATED)


class _Renewal:
    """When this process's sockets last renewed their database connection (time.monotonic)."""

    def __init__(self) -> None:
        self.last = -math.inf

    def due(self) -> bool:
        return time.monotonic() - self.last >= settings.DATABASE_RENEW_SECONDS

    def done(self) -> None:
        self.last = time.monotonic()


_renewal = _Renewal()


# Where a shared channel-layer message keeps its frame's text (None: outside the contract).
_TEXT = "_text"


def _contract_text(frame: dict[str, Any]) -> str | None:
    """A frame from the channel layer (plain data) as the text a client receives, once checked
    against the contract; None for one outside it, which is never sent: a room event's absence
    shows the client a gap (prev_seq), which it fills with a resume."""
    try:
        return wire.encode(wire.from_builtins(frame))
    except msgspec.ValidationError as exc:
        # Its type and place are logged, not the frame: it may hold a message's text, which the
        # error may quote too.
        logger.error(
            "dropped a %s frame outside the contract: %s",
            _frame_type(frame), logs.safe_error(exc),
            extra=_frame_fields(frame),
        )  # fmt: skip
        return None


# The periodic work of every socket runs from one task per process (echostream.core.rounds):
# an idle socket then costs no task and no timer of its own.
# Only sockets that were sent a room's events have a tail to look at.
_tail_watch: rounds.Rounds[ChatConsumer] = rounds.Rounds(
    "room tail look",
    lambda: settings.DELIVERY_TAIL_CHECK_SECONDS,
    ChatConsumer.look_at_tails,
    due=lambda socket: socket.delivery.has_rooms(),
)
