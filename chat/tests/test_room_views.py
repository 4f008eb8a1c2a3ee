"""The room object as one member sees it, against the real database, Redis and MongoDB."""

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from chat import projection, repository, selectors, services
from chat.models import Room
from echostream.core import events, wire
from tests.system.stack import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]
User = get_user_model()


@pytest.fixture
def people():
    return [User.objects.create_user(username=f"{name}{uuid.uuid4().hex[:6]}", password="x") for name in "abc"]


@pytest.fixture
def member_statuses():
    """Registers a fake presence reader that answers what the test puts in the dict it yields."""
    answers: dict[tuple[str, str], selectors.MemberStatus] = {}
    registered = list(selectors._member_statuses)

    async def reader(members_by_room, rooms_with_events):
        return {key: status for key, status in answers.items() if key[1] in members_by_room.get(key[0], [])}

    selectors.register_member_statuses(reader)
    yield answers
    selectors._member_statuses[:] = registered


def views_for(user, rooms: list[Room]) -> list[wire.Room]:
    loaded = selectors.rooms_with_members(room_ids=[room.id for room in rooms])
    return async_to_sync(selectors.room_views)(
        rooms=loaded, viewer_id=str(user.pk), viewer_username=user.get_username()
    )


def view_for(user, room: Room) -> wire.Room:
    (view,) = views_for(user, [room])
    return view


def created(room: Room, seq: int, body: str, *, sender, at: datetime | None = None) -> events.MessageCreated:
    return events.MessageCreated(
        id=f"{room.id}-{seq}", room=room.id, seq=seq, occurred_at=at or events.now(), actor=str(sender.pk),
        data=events.CreatedData(client_id=f"c{seq}", body=body, sender=sender.get_username()),
    )  # fmt: skip


def show(*room_events: events.RoomEvent) -> None:
    for event in room_events:
        async_to_sync(projection.do_show_room_event)(event=event)


def store(*room_events: events.RoomEvent) -> None:
    async_to_sync(repository.ensure_indexes)()
    for event in room_events:
        async_to_sync(projection.do_store_room_event)(event=event)


def test_member_info_has_each_member_s_status_from_the_registered_reader(people, member_statuses):
    alice, bob, carol = people
    room = services.do_create_group(creator=alice, name="g", member_usernames=[bob.username, carol.username])
    member_statuses[(room.id, str(bob.pk))] = selectors.MemberStatus(
        online=False, last_seen="2026-01-02T03:04:05+00:00", delivered=4, read=3
    )
    member_statuses[(room.id, str(alice.pk))] = selectors.MemberStatus(
        online=True, last_seen=None, delivered=None, read=None
    )

    info = {member.username: member for member in view_for(alice, room).member_info}

    assert info == {
        alice.username: wire.MemberInfo(
            username=alice.username, online=True, last_seen=None, delivered=None, read=None
        ),
        bob.username: wire.MemberInfo(
            username=bob.username, online=False, last_seen="2026-01-02T03:04:05+00:00", delivered=4, read=3
        ),
        # Left out by the reader: shown as offline, never seen, no watermarks.
        carol.username: wire.MemberInfo(
            username=carol.username, online=False, last_seen=None, delivered=None, read=None
        ),
    }


def test_without_a_reader_every_member_is_offline_and_unknown(people, member_statuses):
    selectors._member_statuses.clear()
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)

    info = view_for(alice, room).member_info

    assert [(member.username, member.online, member.last_seen, member.delivered, member.read) for member in info] == [
        (username, False, None, None, None) for username in sorted([alice.username, bob.username])
    ]


def test_a_room_without_messages_has_no_last_message_and_its_creation_as_activity(people):
    alice, _, _ = people
    room = services.do_create_group(creator=alice, name="quiet", member_usernames=[])

    view = view_for(alice, room)

    assert (view.last_message, view.last_seq, view.unread) == (None, None, 0)
    assert datetime.fromisoformat(view.activity_at) == room.created_at


def test_the_last_message_comes_from_the_cache_of_recent_messages(people):
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)
    first, newest = created(room, 0, "first", sender=alice), created(room, 1, "newest", sender=bob)
    show(first, newest)  # shown live; MongoDB has neither yet

    view = view_for(alice, room)

    assert view.last_message == wire.LastMessage(
        id=newest.id, seq=1, sender=bob.username, body="newest", created_at=newest.occurred_at.isoformat()
    )
    assert datetime.fromisoformat(view.activity_at) == newest.occurred_at
    assert (view.last_seq, view.unread) == (1, 1)


def test_the_last_message_comes_from_mongodb_when_the_cache_does_not_hold_the_room(people):
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)
    older, newest = created(room, 0, "older", sender=bob), created(room, 3, "stored", sender=bob)
    store(older, newest)  # in the history; nothing shown, nothing cached

    view = view_for(alice, room)

    assert view.last_message is not None
    assert (view.last_message.id, view.last_message.seq, view.last_message.body) == (newest.id, 3, "stored")
    assert view.last_seq == 3


def test_the_preview_of_a_long_message_is_cut(people):
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)
    show(created(room, 0, "x" * (wire.PREVIEW_CHARS + 50), sender=bob))

    assert view_for(alice, room).last_message.body == "x" * wire.PREVIEW_CHARS


def test_a_deleted_last_message_has_an_empty_preview(people):
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)
    message = created(room, 0, "regret", sender=bob)
    deleted = events.MessageDeleted(
        id=f"{room.id}-d", room=room.id, seq=1, occurred_at=events.now(), actor=str(bob.pk),
        data=events.DeletedData(message_id=message.id, client_id="c0"),
    )  # fmt: skip
    show(message, deleted)

    last = view_for(alice, room).last_message

    assert (last.id, last.body) == (message.id, "")


def test_a_dm_is_named_after_the_other_person_for_each_of_them(people):
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)

    assert (view_for(alice, room).name, view_for(bob, room).name) == (bob.username, alice.username)


def test_rooms_are_listed_by_their_latest_activity_most_recent_first(people):
    alice, bob, _ = people
    long_ago = datetime.now(UTC) - timedelta(days=3)
    old_talk = services.do_create_group(creator=alice, name="old talk", member_usernames=[bob.username])
    recent_talk = services.do_create_group(creator=alice, name="recent talk", member_usernames=[bob.username])
    new_and_quiet = services.do_create_group(creator=alice, name="new and quiet", member_usernames=[])
    Room.objects.filter(pk__in=[old_talk.pk, recent_talk.pk]).update(created_at=long_ago - timedelta(days=1))
    Room.objects.filter(pk=new_and_quiet.pk).update(created_at=long_ago + timedelta(days=1))
    # Stored, not shown: an old message shown now would look like a bridge running days late.
    store(created(old_talk, 0, "a while ago", sender=bob, at=long_ago))
    show(created(recent_talk, 0, "just now", sender=bob, at=datetime.now(UTC)))

    names = [view.name for view in views_for(alice, [old_talk, new_and_quiet, recent_talk])]

    assert names == ["recent talk", "new and quiet", "old talk"]


def test_each_member_sees_the_room_with_their_own_name_and_unread_count(people):
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)
    show(created(room, 0, "from alice", sender=alice))

    (loaded,) = selectors.rooms_with_members(room_ids=[room.id])
    views = async_to_sync(selectors.room_views_by_member)(room=loaded)

    assert {user_id: (view.name, view.unread) for user_id, view in views.items()} == {
        str(alice.pk): (bob.username, 0),
        str(bob.pk): (alice.username, 1),
    }


@pytest.fixture
def mongodb_unreachable(settings):
    """MongoDB clients made from here on point at a closed port: asking it fails."""
    port = free_port()  # nothing listens there
    settings.MONGODB_URI = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500"


def test_a_new_room_and_its_first_page_need_no_mongodb(people, django_capture_on_commit_callbacks, request):
    alice, bob, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        room = services.do_create_group(creator=alice, name="fresh", member_usernames=[bob.username])
    request.getfixturevalue("mongodb_unreachable")

    view = view_for(alice, room)
    page = async_to_sync(selectors.message_page)(room_id=room.id, before=None, after=None, limit=50)

    assert (view.last_message, view.last_seq) == (None, None)
    assert page == ([], False)


def test_a_last_message_of_files_alone_names_them(people):
    alice, bob, _ = people
    room, _ = services.do_open_dm(user=alice, other_username=bob.username)
    photo = events.AttachmentMeta(id="a1", filename="holiday.png", content_type="image/png", size=10, thumbnail=True)
    files_only = msgspec.structs.replace(
        created(room, 0, "", sender=bob),
        data=events.CreatedData(client_id="c0", body="", sender=bob.username, attachments=[photo]),
    )
    show(files_only)

    (attachment,) = view_for(alice, room).last_message.attachments
    assert (attachment["id"], attachment["filename"]) == ("a1", "holiday.png")
    assert attachment["url"] == "/api/attachments/a1/"
