from __future__ import annotations

from presence import store


async def online_among(user_ids: list[str]) -> set[str]:
    return await store.online_user_ids(user_ids)
