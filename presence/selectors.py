from __future__ import annotations

from chat.selectors import MemberStatus
from presence import receipts, store


async def presence_of(user_ids: list[str]) -> dict[str, tuple[bool, str | None]]:
    """(online, last seen) per user; last seen is None while online and for the never seen."""
    online = await store.online_user_ids(user_ids)
    seen = await store.last_seen_of([user_id for user_id in user_ids if user_id not in online])
    return {user_id: (user_id in online, seen.get(user_id)) for user_id in user_ids}


async def member_statuses(members_by_room: dict[str, list[str]]) -> dict[tuple[str, str], MemberStatus]:
    """Presence and receipt watermarks of each room's members (chat's room objects show them)."""
    presence = await presence_of(sorted({user_id for members in members_by_room.values() for user_id in members}))
    pairs = [(room_id, user_id) for room_id, members in members_by_room.items() for user_id in members]
    marks = await receipts.watermarks(pairs)
    statuses = {}
    for room_id, user_id in pairs:
        online, last_seen = presence[user_id]
        delivered, read = marks.get((room_id, user_id), (None, None))
        statuses[room_id, user_id] = MemberStatus(online=online, last_seen=last_seen, delivered=delivered, read=read)
    return statuses
