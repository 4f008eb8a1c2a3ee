"""The log part of a resume while MongoDB is out or behind: the recent cache stands in for the state of
older messages, and a change to a message neither holds is left out, logged."""

from __future__ import annotations

import uuid

import msgspec

from chat import projector, recent
from echostream.core import events
from replay import services


def mid(label: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, label).hex


def created(seq: int, name: str) -> events.MessageCreated:
    event = events.MessageCreated(
        id=mid(name), room="r1", occurred_at=events.now(), actor="1",
        data=events.CreatedData(client_id=f"c-{name}", body=name, sender="alice"),
    )  # fmt: skip
    return msgspec.structs.replace(event, seq=seq)


def edited(seq: int, name: str, body: str) -> events.MessageEdited:
    event = events.MessageEdited(
        id=uuid.uuid4().hex, room="r1", occurred_at=events.now(), actor="1",
        data=events.EditedData(message_id=mid(name), body=body),
    )  # fmt: skip
    return msgspec.structs.replace(event, seq=seq)


async def test_the_log_alone_with_the_cache_for_older_messages(monkeypatch, caplog):
    cached_old = projector.apply(projector.apply(None, created(3, "old")), edited(11, "old", "old, edited"))
    logged = [edited(11, "old", "old, edited"), edited(12, "gone", "unknown"), created(13, "new")]
    logged.append(edited(14, "new", "new, edited"))

    def room_events(room_id: str, *, start: int, end: int) -> list[services.LoggedEvent]:
        assert (room_id, start, end) == ("r1", 10, 15)
        return [services.LoggedEvent(seq=event.seq, timestamp_ms=0, event=event) for event in logged]

    async def live_documents(*, room_id: str, message_ids: list[str]) -> dict[str, projector.MessageDoc]:
        return {message_id: cached_old for message_id in message_ids if message_id == mid("old")}

    monkeypatch.setattr(services, "room_events", room_events)
    monkeypatch.setattr(recent, "live_documents", live_documents)
    store = services._Mongo()
    store.out = True
    frames = await services._from_log(room_id="r1", start=10, end=15, store=store)

    assert [(type(f).__name__, f.seq, f.message.id, f.message.body) for f in frames] == [
        ("MessageUpdated", 11, mid("old"), "old, edited"),
        ("MessageNew", 13, mid("new"), "new, edited"),  # once, as it is now
    ]
    assert f"leaves out the message.edited at seq 12: message {mid('gone')} is in neither" in caplog.text


async def test_what_mongodb_does_not_hold_yet_comes_from_the_cache(monkeypatch):
    # MongoDB answers, but its store half has not reached the room yet (a room a few seconds old).
    cached_old = projector.apply(None, created(3, "old"))
    logged = [edited(11, "old", "old, edited"), created(12, "new")]

    def room_events(room_id: str, *, start: int, end: int) -> list[services.LoggedEvent]:
        return [services.LoggedEvent(seq=event.seq, timestamp_ms=0, event=event) for event in logged]

    async def messages_by_id(message_ids: list[str]) -> dict[str, projector.MessageDoc]:
        return {}

    async def live_documents(*, room_id: str, message_ids: list[str]) -> dict[str, projector.MessageDoc]:
        return {message_id: cached_old for message_id in message_ids if message_id == mid("old")}

    monkeypatch.setattr(services, "room_events", room_events)
    monkeypatch.setattr(services, "messages_by_id", messages_by_id)
    monkeypatch.setattr(recent, "live_documents", live_documents)
    frames = await services._from_log(room_id="r1", start=10, end=13, store=services._Mongo())

    assert [(type(f).__name__, f.seq, f.message.id, f.message.body) for f in frames] == [
        ("MessageUpdated", 11, mid("old"), "old, edited"),
        ("MessageNew", 12, mid("new"), "new"),
    ]
