"""Receipt watermarks in MongoDB: per (user, room) the highest seq delivered and read.

Watermarks only move forward (`$max`), so receipts arriving out of order are harmless.
"""

from __future__ import annotations

from typing import Literal

from echostream.core import mongo

RECEIPTS = "receipts"
Kind = Literal["delivered", "read"]


def _receipts() -> mongo.AsyncCollection:
    return mongo.collection(RECEIPTS)


async def raise_watermark(*, user_id: str, room_id: str, kind: Kind, seq: int) -> None:
    await _receipts().update_one(
        {"_id": f"{user_id}:{room_id}"},
        {"$max": {kind: seq}, "$setOnInsert": {"user": user_id, "room": room_id}},
        upsert=True,
    )


async def read_watermarks(user_id: str, room_ids: list[str]) -> dict[str, int]:
    ids = [f"{user_id}:{room_id}" for room_id in room_ids]
    found = await _receipts().find({"_id": {"$in": ids}}).to_list(length=None)
    return {document["room"]: document["read"] for document in found if "read" in document}
