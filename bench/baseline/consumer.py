import json
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        query = parse_qs(self.scope["query_string"].decode())
        self.rooms = [room for room in ",".join(query.get("rooms", [])).split(",") if room]
        for room in self.rooms:
            await self.channel_layer.group_add(room, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for room in self.rooms:
            await self.channel_layer.group_discard(room, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The tutorial's one check: a frame names a room this socket joined.
        room = json.loads(text_data or "{}").get("room")
        if room in self.rooms:
            await self.channel_layer.group_send(room, {"type": "chat.message", "text": text_data})

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])
