"""One resume of many rooms waits once, for all of them, for the bridges' store half; and
not at all while MongoDB is out. Kafka and MongoDB are stood in for: what counts is how
often they are asked, never how long anything takes."""

from __future__ import annotations

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from echostream.core import kafka
from replay import services

ROOMS = {f"room{n}": 4 for n in range(10)}
SHOWN = 9  # the fan-out showed seqs 0-8 of every room


class Calls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, stored: int | None, mongo_answers: bool = True) -> None:
        self.shown: list[list[str]] = []
        self.stored: list[list[str]] = []
        self.snapshots: list[str] = []
        self.pings = 0
        self.logs: list[tuple[str, int, int]] = []

        def room_offsets(room_id: str) -> tuple[int, int]:
            return 0, SHOWN

        def bridge_positions(room_ids: list[str]) -> dict[str, int | None]:
            self.shown.append(list(room_ids))
            return dict.fromkeys(room_ids, SHOWN)

        def bridge_store_positions(room_ids: list[str]) -> dict[str, int | None]:
            self.stored.append(list(room_ids))
            return dict.fromkeys(room_ids, stored)

        async def ping() -> bool:
            self.pings += 1
            if not mongo_answers:
                raise ServerSelectionTimeoutError("127.0.0.1:1: connection refused")
            return True

        async def changed_after(*, room_id: str, seq: int) -> list:
            self.snapshots.append(room_id)
            return []

        async def from_log(*, room_id: str, start: int, end: int, store: object) -> list:
            self.logs.append((room_id, start, end))
            return []

        monkeypatch.setattr(kafka, "room_offsets", room_offsets)
        monkeypatch.setattr(kafka, "bridge_positions", bridge_positions)
        monkeypatch.setattr(kafka, "bridge_store_positions", bridge_store_positions)
        monkeypatch.setattr(services, "_mongo_answers", ping)
        monkeypatch.setattr(services, "messages_changed_after", changed_after)
        monkeypatch.setattr(services, "_from_log", from_log)


async def test_ten_rooms_whose_store_trails_wait_once_together_within_the_bound(monkeypatch):
    monkeypatch.setattr(services, "STORE_CATCH_UP_SECONDS", 0.5)
    calls = Calls(monkeypatch, stored=SHOWN - 1)  # the store half never catches up
    replays = await services.replay_rooms(ROOMS)

    # One wait: every question to Kafka covers all ten rooms, and the polls are bounded by
    # the one overall bound, not multiplied by the rooms.
    assert all(sorted(asked) == sorted(ROOMS) for asked in calls.stored + calls.shown)
    assert 1 <= len(calls.stored) <= int(services.STORE_CATCH_UP_SECONDS / services.STORE_POLL_SECONDS) + 2
    assert len(calls.shown) == 2  # before the wait, and for the log part after the snapshot
    assert calls.pings == 1
    # Then MongoDB once per room, and the log for what it lacks.
    assert sorted(calls.snapshots) == sorted(ROOMS)
    assert sorted(calls.logs) == sorted((room_id, 5, SHOWN) for room_id in ROOMS)
    assert {room_id: replay.seq for room_id, replay in replays.items()} == dict.fromkeys(ROOMS, SHOWN - 1)


async def test_rooms_already_stored_as_shown_do_not_wait(monkeypatch):
    calls = Calls(monkeypatch, stored=SHOWN)
    await services.replay_rooms(ROOMS)
    assert len(calls.stored) == 1
    assert calls.pings == 0
    assert sorted(calls.snapshots) == sorted(ROOMS)


async def test_rooms_the_store_has_not_started_on_do_not_wait_and_come_from_the_log(monkeypatch):
    calls = Calls(monkeypatch, stored=None)  # a brand-new room: the store group has no commit in it
    replays = await services.replay_rooms(ROOMS)
    assert len(calls.stored) == 1
    assert calls.pings == 0
    assert sorted(calls.logs) == sorted((room_id, 5, SHOWN) for room_id in ROOMS)
    assert all(replay.seq == SHOWN - 1 for replay in replays.values())


async def test_while_mongodb_is_out_there_is_no_wait_and_the_log_alone_replays(monkeypatch, caplog):
    calls = Calls(monkeypatch, stored=SHOWN - 1, mongo_answers=False)
    replays = await services.replay_rooms(ROOMS)
    assert len(calls.stored) == 1  # one look, no polling
    assert calls.pings == 1
    assert calls.snapshots == []  # not asked again once it did not answer
    assert sorted(calls.logs) == sorted((room_id, 5, SHOWN) for room_id in ROOMS)
    assert all(replay.seq == SHOWN - 1 for replay in replays.values())
    assert "resume goes without MongoDB (a ping is out" in caplog.text
