"""The moderators' admin through Django's test client, signed in as a staff user: the report
queue, the review page with its context and actions, sanctions, rules, the audit log, and the
room admin (names, read-only kind, raw ids, a room's messages with a delete)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from chat.models import Membership, Room
from echostream.core import groups
from moderation import actions
from moderation.models import AuditEntry, ProfanityWord, Report, Sanction
from moderation.tests.conftest import message_document, person, store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("services")]


@pytest.fixture
def signed_in(client, moderator):
    client.force_login(moderator)
    return client


def make_report(scene, reporter=None, reason: str = "rude") -> Report:
    made, _ = actions.do_report(
        reporter=reporter or scene.alice, room_id=scene.room.pk, message_id=scene.message["_id"], reason=reason
    )
    return made


def review_url(report: Report) -> str:
    return f"/admin/moderation/report/{report.pk}/change/"


def act(client, report: Report, action: str, reason: str = "breaks the rules", **extra: str):
    return client.post(review_url(report), {"action": action, "reason": reason, **extra})


# --- The queue and the review page -------------------------------------------------------------


def test_the_queue_lists_open_reports_before_resolved_ones(signed_in, scene, moderator):
    resolved = make_report(scene)
    actions.do_dismiss_report(moderator=moderator, report=resolved, reason="fine")
    carol = person("carol")
    Membership.objects.create(room=scene.room, user=carol)
    waiting = make_report(scene, carol)
    response = signed_in.get("/admin/moderation/report/")
    assert response.status_code == 200
    assert [report.pk for report in response.context["cl"].result_list] == [waiting.pk, resolved.pk]


def test_the_queue_filters_by_status(signed_in, scene, moderator):
    actions.do_dismiss_report(moderator=moderator, report=make_report(scene), reason="fine")
    response = signed_in.get("/admin/moderation/report/?status__exact=open")
    assert list(response.context["cl"].result_list) == []


def test_the_review_page_shows_the_message_among_its_neighbours(signed_in, scene):
    for seq, body in ((1, "a reply"), (2, "another reply")):
        store(message_document(scene.room.pk, scene.alice, seq=seq, body=body))
    report = make_report(scene)
    response = signed_in.get(review_url(report))
    assert response.status_code == 200
    shown = response.context["context_messages"]
    assert [(message["body"], message["reported"]) for message in shown] == [
        ("something rude", True), ("a reply", False), ("another reply", False),
    ]  # fmt: skip
    page = response.content.decode()
    assert "another reply" in page and "Delete message" in page and "Ban sender from the site" in page


def test_deleting_from_the_review_page_resolves_the_report_and_is_audited(signed_in, scene, moderator):
    report = make_report(scene)
    response = act(signed_in, report, "delete", reason="insult")
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == Report.Status.ACTIONED
    (entry,) = AuditEntry.objects.all()
    assert (entry.actor, entry.action, entry.reason) == (moderator, AuditEntry.Kind.DELETE_MESSAGE, "insult")


def test_muting_from_the_review_page_mutes_the_sender_in_the_room_for_the_chosen_time(signed_in, scene):
    report = make_report(scene)
    act(signed_in, report, "mute", duration="1h", mute_scope="room")
    (sanction,) = Sanction.objects.all()
    assert (sanction.user, sanction.kind, sanction.room) == (scene.bob, Sanction.Kind.MUTE, scene.room)
    assert sanction.until > timezone.now()
    report.refresh_from_db()
    assert report.status == Report.Status.ACTIONED


def test_banning_from_the_room_takes_the_sender_out(signed_in, scene):
    act(signed_in, make_report(scene), "ban_room")
    assert not Membership.objects.filter(room=scene.room, user=scene.bob).exists()
    (sanction,) = Sanction.objects.all()
    assert (sanction.kind, sanction.room) == (Sanction.Kind.BAN, scene.room)


def test_banning_from_the_site_deactivates_the_sender(signed_in, scene):
    act(signed_in, make_report(scene), "ban_site")
    scene.bob.refresh_from_db()
    assert scene.bob.is_active is False


def test_dismissing_from_the_review_page(signed_in, scene):
    report = make_report(scene)
    act(signed_in, report, "dismiss", reason="banter")
    report.refresh_from_db()
    assert report.status == Report.Status.DISMISSED
    assert AuditEntry.objects.get().action == AuditEntry.Kind.DISMISS_REPORT


def test_an_action_without_a_reason_is_refused_and_nothing_happens(signed_in, scene):
    report = make_report(scene)
    response = act(signed_in, report, "ban_site", reason="")
    assert response.status_code == 200 and response.context["form"].errors
    report.refresh_from_db()
    scene.bob.refresh_from_db()
    assert (report.status, scene.bob.is_active, AuditEntry.objects.count()) == (Report.Status.OPEN, True, 0)


def test_staff_without_the_report_permission_may_look_but_not_act(client, scene):
    viewer = person("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_report"))
    client.force_login(viewer)
    report = make_report(scene)
    assert client.get(review_url(report)).status_code == 200
    assert act(client, report, "ban_site").status_code == 403
    scene.bob.refresh_from_db()
    assert scene.bob.is_active is True


def test_a_member_who_is_not_staff_is_sent_to_the_admin_sign_in(client, scene):
    client.force_login(scene.alice)
    response = client.get(review_url(make_report(scene)))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Sanctions ----------------------------------------------------------------------------------


def test_lifting_a_sanction_from_the_list_asks_why_then_lifts_it(signed_in, scene, moderator):
    sanction = actions.do_ban(moderator=moderator, user=scene.bob, reason="spam")
    chosen = {"action": "lift", "_selected_action": [sanction.pk]}
    asked = signed_in.post("/admin/moderation/sanction/", chosen)
    assert asked.status_code == 200 and b"Lift these sanctions" in asked.content
    signed_in.post("/admin/moderation/sanction/", {**chosen, "apply": "1", "reason": "appeal"})
    sanction.refresh_from_db()
    scene.bob.refresh_from_db()
    assert sanction.lifted_at is not None and scene.bob.is_active is True
    assert AuditEntry.objects.filter(action=AuditEntry.Kind.LIFT, reason="appeal").exists()


def test_a_sanction_given_in_the_admin_goes_through_the_action(signed_in, scene):
    response = signed_in.post(
        "/admin/moderation/sanction/add/",
        {"user": scene.bob.pk, "kind": "ban", "room": scene.room.pk, "until": "", "reason": "spam"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not Membership.objects.filter(room=scene.room, user=scene.bob).exists()
    assert AuditEntry.objects.get().action == AuditEntry.Kind.BAN


def test_a_sanction_the_action_would_refuse_is_a_form_error(signed_in, scene):
    response = signed_in.post(
        "/admin/moderation/sanction/add/", {"user": scene.bob.pk, "kind": "mute", "until": "", "reason": "x"}
    )
    assert response.status_code == 200
    assert "Say when the mute ends." in str(response.context["adminform"].form.errors)
    assert not Sanction.objects.exists()


# --- Rules and the audit log ---------------------------------------------------------------------


def test_adding_a_word_is_audited_as_a_rule_change(signed_in, moderator):
    signed_in.post("/admin/moderation/profanityword/add/", {"word": "frak"})
    word = ProfanityWord.objects.get()
    assert word.created_by == moderator
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.details["change"], entry.details["object"]) == (
        moderator, AuditEntry.Kind.CHANGE_RULES, "added", "frak",
    )  # fmt: skip


def test_the_audit_log_is_read_only(signed_in, scene, moderator):
    actions.do_dismiss_report(moderator=moderator, report=make_report(scene), reason="fine")
    entry = AuditEntry.objects.get()
    assert signed_in.get("/admin/moderation/auditentry/").status_code == 200
    assert signed_in.get("/admin/moderation/auditentry/add/").status_code == 403
    assert signed_in.get(f"/admin/moderation/auditentry/{entry.pk}/delete/").status_code == 403
    signed_in.post(f"/admin/moderation/auditentry/{entry.pk}/change/", {"reason": "rewritten"})
    entry.refresh_from_db()
    assert entry.reason == "fine"


# --- The room admin ------------------------------------------------------------------------------


def test_a_dm_is_listed_by_its_two_members(signed_in, scene):
    dm = Room.objects.create(kind=Room.Kind.DM, dm_key=f"{scene.alice.pk}:{scene.bob.pk}")
    Membership.objects.create(room=dm, user=scene.alice)
    Membership.objects.create(room=dm, user=scene.bob)
    page = signed_in.get("/admin/chat/room/?kind__exact=dm").content.decode()
    names = sorted([scene.alice.username, scene.bob.username])
    assert f"{names[0]} ↔ {names[1]}" in page


def test_a_room_s_kind_is_read_only_and_its_users_are_picked_by_id(signed_in, scene):
    page = signed_in.get(f"/admin/chat/room/{scene.room.pk}/change/").content.decode()
    assert not re.search(r'<select[^>]*name="kind"', page)
    assert re.search(r'<input[^>]*name="created_by"[^>]*vForeignKeyRawIdAdminField', page)
    assert f"/admin/chat/room/{scene.room.pk}/messages/" in page


def test_a_room_s_messages_page_lists_them_and_deletes_one(signed_in, scene, moderator):
    url = f"/admin/chat/room/{scene.room.pk}/messages/"
    page = signed_in.get(url)
    assert [message["body"] for message in page.context["room_messages"]] == ["something rude"]
    response = signed_in.post(url, {"message_id": scene.message["_id"], "reason": "insult"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.message_id, entry.room_id) == (
        AuditEntry.Kind.DELETE_MESSAGE, scene.message["_id"], scene.room.pk,
    )  # fmt: skip


@pytest.mark.parametrize("before", ["²", "9" * 4000, "-1", "abc"])
def test_a_room_s_messages_page_reads_a_cursor_that_is_no_seq_as_the_newest_page(signed_in, scene, before):
    page = signed_in.get(f"/admin/chat/room/{scene.room.pk}/messages/", {"before": before})
    assert page.status_code == 200
    assert [message["body"] for message in page.context["room_messages"]] == ["something rude"]


def membership_form(room: Room, *, delete: set[int] = frozenset(), add: list[int] = ()) -> dict[str, str]:
    memberships = list(room.memberships.order_by("pk"))
    data = {
        "name": room.name,
        "created_by": str(room.created_by_id),
        "memberships-TOTAL_FORMS": str(len(memberships) + len(add)),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for n, membership in enumerate(memberships):
        data |= {
            f"memberships-{n}-id": str(membership.pk),
            f"memberships-{n}-room": room.pk,
            f"memberships-{n}-user": str(membership.user_id),
            f"memberships-{n}-role": membership.role,
        }
        if membership.user_id in delete:
            data[f"memberships-{n}-DELETE"] = "on"
    for n, user_id in enumerate(add, start=len(memberships)):
        data |= {
            f"memberships-{n}-room": room.pk,
            f"memberships-{n}-user": str(user_id),
            f"memberships-{n}-role": "member",
        }
    return data


def test_a_member_taken_out_or_put_in_by_a_moderator_is_told_at_once(
    signed_in, scene, monkeypatch, django_capture_on_commit_callbacks
):
    told: list[tuple[str, str, str]] = []

    async def tell_rooms_changed(user_id, frame=None):
        told.append((user_id, type(frame).__name__, getattr(frame, "room", None)))

    monkeypatch.setattr(groups, "tell_rooms_changed", tell_rooms_changed)
    carol = person("carol")
    url = f"/admin/chat/room/{scene.room.pk}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(url, membership_form(scene.room, delete={scene.bob.pk}, add=[carol.pk]))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(scene.room.memberships.values_list("user_id", flat=True)) == {scene.alice.pk, carol.pk}
    assert (str(scene.bob.pk), "RoomLeft", scene.room.pk) in told
    assert any(user == str(carol.pk) and kind == "RoomJoined" for user, kind, _ in told)


@pytest.fixture
def rooms_left(monkeypatch) -> list[tuple[str, str]]:
    """(user id, room id) of each `room.left` a member's sockets are told."""
    told: list[tuple[str, str]] = []

    async def tell_rooms_changed(user_id, frame=None):
        if type(frame).__name__ == "RoomLeft":
            told.append((user_id, frame.room))

    monkeypatch.setattr(groups, "tell_rooms_changed", tell_rooms_changed)
    return told


def test_a_room_deleted_on_its_page_is_gone_from_each_member_s_client(
    signed_in, scene, rooms_left, django_capture_on_commit_callbacks
):
    room_id = scene.room.pk
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/admin/chat/room/{room_id}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Room.objects.filter(pk=room_id).exists()
    assert sorted(rooms_left) == sorted([(str(scene.alice.pk), room_id), (str(scene.bob.pk), room_id)])


def test_rooms_deleted_from_the_list_are_gone_from_each_member_s_client(
    signed_in, scene, rooms_left, django_capture_on_commit_callbacks
):
    other = Room.objects.create(kind=Room.Kind.GROUP, name="other", created_by=scene.alice)
    Membership.objects.create(room=other, user=scene.alice)
    selected = [scene.room.pk, other.pk]
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            "/admin/chat/room/", {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Room.objects.filter(pk__in=selected).exists()
    assert sorted(rooms_left) == sorted(
        [(str(scene.alice.pk), scene.room.pk), (str(scene.bob.pk), scene.room.pk), (str(scene.alice.pk), other.pk)]
    )
