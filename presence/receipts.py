"""Receipt watermarks in MongoDB: per (user, room) the highest seq delivered and read.

Watermarks only move forward (`$max`), so receipts arriving out of order are harmless.
"""

from __future__ import annotations

from typing import Any, Literal

from echostream.core import mongo

RECEIPTS = "receipts"
Kind = Literal["delivered", "read"]


def _receipts() -> mongo.AsyncCollection:
    return mongo.collection(RECEIPTS)


async def raise_watermark(*, user_id: str, room_id: str, kind: Kind, seq: int) -> bool:
    """Moves the watermark up to `seq` (a read is a delivery too); whether it moved."""
    raised = {"read": seq, "delivered": seq} if kind == "read" else {"delivered": seq}
    # find_one_and_update answers the document as it was before (its default).
    before = await _receipts().find_one_and_update(
        {"_id": f"{user_id}:{room_id}"},
        {"$max": raised, "$setOnInsert": {"user": user_id, "room": room_id}},
        upsert=True,
    )
    return before is None or before.get(kind, -1) < seq


async def _get_many(ids: list[str]) -> list[dict[str, Any]]:
    return list((await mongo.find_by_ids(_receipts(), ids)).values())


async def watermarks(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int | None, int | None]]:
    """(delivered, read) per (room id, user id) that has any."""
    if not pairs:
        return {}
    found = await _get_many([f"{user}:{room}" for room, user in pairs])
    return {(doc["room"], doc["user"]): (doc.get("delivered"), doc.get("read")) for doc in found}


async def read_watermarks(user_id: str, room_ids: list[str]) -> dict[str, int]:
    found = await _get_many([f"{user_id}:{room_id}" for room_id in room_ids])
    return {document["room"]: document["read"] for document in found if "read" in document}
