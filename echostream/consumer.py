"""The one WebSocket endpoint: authenticates, parses each frame and hands it to the
handler that its app registered. All rooms of a client share this one socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import cache
from chat.selectors import aroom_ids_of
from echostream.core import delivery, frames, groups, redis

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# A client that resumes does so as soon as its socket opens. Until its resume is
# done (or this long has passed), live room events are held back, so that none
# overtakes the older events the resume replays.
RESUME_GRACE_SECONDS = 2.0
# channels_redis forgets group members after a day; a long-lived socket re-joins.
GROUP_REFRESH_SECONDS = 3600


@frames.register("ping")
async def handle_ping(connection: frames.Connection, frame: dict[str, Any]) -> None:
    await connection.send_frame({"type": "pong"})


class ChatConsumer(AsyncWebsocketConsumer):
    user_id: str
    username: str

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a close code can only be sent on an open socket.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = str(user.pk)
        self.username = user.get_username()
        self.room_groups: set[str] = set()
        self.delivery = delivery.SocketDelivery()
        await self.accept()
        await self.channel_layer.group_add(groups.user_group(self.user_id), self.channel_name)
        await self._sync_room_groups()
        await frames.run_connect_hooks(self)
        self._background = [
            asyncio.create_task(self._release_after_grace()),
            asyncio.create_task(self._refresh_groups_forever()),
            asyncio.create_task(self._watch_tails_forever()),
        ]

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "user_id"):
            return
        for task in getattr(self, "_background", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await frames.run_disconnect_hooks(self)
        for group in [groups.user_group(self.user_id), *self.room_groups]:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error("invalid_frame", "Frames are JSON text, not binary.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error("invalid_json", "The frame is not JSON.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._error("invalid_frame", "A frame is a JSON object with a string `type`.")
            return
        if len(text_data.encode()) > settings.WEBSOCKET_MAX_FRAME_BYTES:
            await self.send_frame(
                {
                    "type": "message.rejected",
                    "client_id": frame.get("client_id"),
                    "room": frame.get("room"),
                    "reason": "too_large",
                    "detail": f"Frames are limited to {settings.WEBSOCKET_MAX_FRAME_BYTES} bytes.",
                }
            )
            return
        handler = frames.handler_for(frame["type"])
        if handler is None:
            await self._error("unknown_type", f"Unknown frame type {frame['type']!r}.")
            return
        try:
            await handler(self, frame)
        except frames.FrameError as exc:
            # Name what failed, so the client knows which send, edit or delete to retry.
            await self._error(exc.code, exc.detail, client_id=frame.get("client_id"), id=frame.get("id"))
        except Exception:
            logger.exception("handler for %s failed", frame["type"])
            await self._error("internal", "The server could not handle that frame.")

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))

    async def _error(self, code: str, detail: str, **extra: Any) -> None:
        await self.send_frame(
            {"type": "error", "code": code, "detail": detail, **{k: v for k, v in extra.items() if v}}
        )

    async def release_held(self) -> None:
        for frame in self.delivery.release():
            await self.send_frame(frame)

    async def _release_after_grace(self) -> None:
        await asyncio.sleep(RESUME_GRACE_SECONDS)
        # A resume under way releases them itself once its replay is out.
        await self.release_held()

    async def _watch_tails_forever(self) -> None:
        while True:
            await asyncio.sleep(settings.DELIVERY_TAIL_CHECK_SECONDS)
            rooms = [room_id for room_id in self.delivery.rooms() if groups.room_group(room_id) in self.room_groups]
            try:
                newest = await cache.last_seqs(rooms)
            except redis.RedisError as exc:
                logger.warning("cannot look for dropped room frames now: %s", exc)
                continue
            for room_id, seq in self.delivery.missed_tails(newest).items():
                await self.send_frame(delivery.room_head_frame(room_id=room_id, seq=seq))

    async def _refresh_groups_forever(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for group in [groups.user_group(self.user_id), *self.room_groups]:
                await self.channel_layer.group_add(group, self.channel_name)

    async def _sync_room_groups(self) -> None:
        wanted = {groups.room_group(room_id) for room_id in await aroom_ids_of(user_id=self.user_id)}
        for group in wanted - self.room_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.room_groups - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.room_groups = wanted

    # Channel-layer events (see echostream.core.groups).
    async def deliver_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        if not delivery.is_room_event(frame):
            await self.send_frame(frame)
        elif (admitted := self.delivery.offer(frame)) is not None:
            await self.send_frame(admitted)

    async def rooms_changed(self, event: dict[str, Any]) -> None:
        await self._sync_room_groups()
