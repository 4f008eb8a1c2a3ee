"""Flood counts against the real Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from moderation import flood

pytestmark = pytest.mark.usefixtures("services")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def count(room: str, message_id: str, at: datetime, *, text: str = "buy now", window: int = 60) -> int:
    sighting = flood.Sighting(
        room_id=room, user_id="7", normalised_text=text, message_id=message_id, sent_at=at, window_seconds=window
    )
    return flood.count_repeats([sighting])[0]


def test_each_message_of_the_same_text_counts_once():
    room = uuid.uuid4().hex[:12]
    assert [count(room, f"m{n}", T0 + timedelta(seconds=n)) for n in range(4)] == [1, 2, 3, 4]


def test_a_message_judged_again_is_not_counted_again():
    room = uuid.uuid4().hex[:12]
    count(room, "m1", T0)
    assert count(room, "m2", T0 + timedelta(seconds=1)) == 2
    assert count(room, "m2", T0 + timedelta(seconds=1)) == 2
    assert count(room, "m3", T0 + timedelta(seconds=2)) == 3


def test_messages_older_than_the_window_do_not_count():
    room = uuid.uuid4().hex[:12]
    count(room, "m1", T0)
    count(room, "m2", T0 + timedelta(seconds=30))
    assert count(room, "m3", T0 + timedelta(seconds=61)) == 2


def test_other_texts_and_other_rooms_count_apart():
    room = uuid.uuid4().hex[:12]
    count(room, "m1", T0)
    assert count(room, "m2", T0, text="something else") == 1
    assert count(uuid.uuid4().hex[:12], "m3", T0) == 1


def test_counted_together_they_count_as_one_after_another():
    room = uuid.uuid4().hex[:12]
    sightings = [
        flood.Sighting(
            room_id=room,
            user_id="7",
            normalised_text="buy now" if n != 2 else "other",
            message_id=f"m{n}",
            sent_at=T0 + timedelta(seconds=n),
            window_seconds=60,
        )
        for n in range(4)
    ]
    assert flood.count_repeats(sightings) == [1, 2, 1, 3]
    assert count(room, "m4", T0 + timedelta(seconds=4)) == 4
