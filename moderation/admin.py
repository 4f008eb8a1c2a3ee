"""The moderators' admin: the report queue (each report with its message in context and the
actions on it), sanctions, rules and word lists, the audit log, and the messages of a room.

Pages only parse and check the form, then call one action of moderation.actions, which
writes the audit entry; nothing here changes a model the actions own by itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import Truncator

from chat import selectors as chat_selectors
from chat.admin import RoomAdmin, room_label
from chat.models import Room
from echostream.core.frames import is_seq
from moderation import actions
from moderation.models import AuditEntry, BannedPhrase, ProfanityWord, Report, RoomPolicy, Sanction

# Messages shown before and after the reported one.
CONTEXT_MESSAGES = 5
ROOM_PAGE_SIZE = 50
MUTE_DURATIONS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def _may_act(request: HttpRequest) -> None:
    # Acting on messages and people is a moderator's: active staff with the report permission.
    if not request.user.has_perm("moderation.change_report"):
        raise PermissionDenied


def _reason_field() -> forms.CharField:
    return forms.CharField(
        max_length=actions.REASON_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log.",
    )


def _message_of(room_id: str, *, before: int | None, after: int | None, limit: int) -> list[dict[str, Any]]:
    page, _ = async_to_sync(chat_selectors.message_page)(room_id=room_id, before=before, after=after, limit=limit)
    return page


# --- The report queue ------------------------------------------------------------------------


class ReportActionForm(forms.Form):
    ACTIONS = {
        "delete": "Delete message",
        "mute": "Mute sender",
        "ban_room": "Ban sender from the room",
        "ban_site": "Ban sender from the site",
        "dismiss": "Dismiss report",
    }

    action = forms.ChoiceField(choices=list(ACTIONS.items()))
    reason = _reason_field()
    duration = forms.ChoiceField(
        choices=[("1h", "1 hour"), ("24h", "24 hours"), ("7d", "7 days")],
        initial="24h",
        label="Mute for",
        required=False,
    )
    mute_scope = forms.ChoiceField(
        choices=[("room", "in this room"), ("site", "everywhere")], initial="room", label="Mute", required=False
    )


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "room_name", "message_sender", "message_excerpt", "reason_excerpt", "reporter"]
    list_display_links = ["id", "message_excerpt"]
    list_filter = ["status", ("room", RelatedOnlyFieldListFilter)]
    list_select_related = ["room", "message_sender", "reporter"]
    search_fields = ["message_id", "message_body", "reason", "message_sender__username", "reporter__username"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        return super().get_queryset(request).prefetch_related("room__memberships__user")

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # The queue: open reports first, oldest first (waiting longest); then the resolved, newest first.
        return [
            Case(When(status=Report.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()),
            "created_at",
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members report in the chat, rules flag in the pipeline

    def has_delete_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False  # a report is part of the record

    @admin.display(description="room")
    def room_name(self, report: Report) -> str:
        return room_label(report.room)

    @admin.display(description="message")
    def message_excerpt(self, report: Report) -> str:
        return Truncator(report.message_body).chars(80) or "(no text)"

    @admin.display(description="reason")
    def reason_excerpt(self, report: Report) -> str:
        return Truncator(report.reason).chars(60)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The review page: the report, its message among the messages around it (from the
        history), and the actions; a POST takes one of them."""
        report = self.get_object(request, object_id)
        if report is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, report):
            raise PermissionDenied
        form = ReportActionForm(request.POST or None)
        if request.method == "POST":
            _may_act(request)
            if form.is_valid():
                try:
                    done = self._act(request, report, form.cleaned_data)
                except actions.ModerationError as refusal:
                    form.add_error(None, refusal.detail)
                else:
                    self.message_user(request, done, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:moderation_report_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Report {report.pk}",
            "subtitle": room_label(report.room),
            "report": report,
            "room_label": room_label(report.room),
            "context_messages": self._context(report),
            "form": form,
            "may_act": report.status == Report.Status.OPEN and request.user.has_perm("moderation.change_report"),
            "has_view_permission": True,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/moderation/report/review.html", context)

    def _context(self, report: Report) -> list[dict[str, Any]]:
        if report.message_seq is None:
            return []
        seq = report.message_seq
        before = _message_of(report.room_id, before=seq + 1, after=None, limit=CONTEXT_MESSAGES + 1)
        after = _message_of(report.room_id, before=None, after=seq, limit=CONTEXT_MESSAGES)
        return [{**message, "reported": message["id"] == report.message_id} for message in before + after]

    def _act(self, request: HttpRequest, report: Report, data: dict[str, Any]) -> str:
        moderator, reason, sender = request.user, data["reason"], report.message_sender
        action = data["action"]
        if action == "dismiss":
            actions.do_dismiss_report(moderator=moderator, report=report, reason=reason)
            return "The report is dismissed."
        if action == "delete":
            actions.do_delete_message(
                moderator=moderator, room_id=report.room_id, message_id=report.message_id, reason=reason
            )
            return "The message is deleted for everyone."
        if sender is None:
            raise actions.ModerationError("invalid", "The sender's account no longer exists.")
        if action == "mute":
            until = timezone.now() + MUTE_DURATIONS[data["duration"] or "24h"]
            room = None if data["mute_scope"] == "site" else report.room
            actions.do_mute(moderator=moderator, user=sender, room=room, until=until, reason=reason, report=report)
            return f"{sender} is muted until {timezone.localtime(until):%Y-%m-%d %H:%M}."
        room = report.room if action == "ban_room" else None
        actions.do_ban(moderator=moderator, user=sender, room=room, reason=reason, report=report)
        return f"{sender} is banned from {'the room' if room else 'the site'}."


# --- Sanctions -------------------------------------------------------------------------------


class SanctionForm(forms.ModelForm):
    """A sanction given in the admin without a report; checked as the actions check it."""

    moderator: Any = None

    class Meta:
        model = Sanction
        fields = ["user", "kind", "room", "until", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            actions.check_sanction(
                moderator=self.moderator,
                user=data["user"],
                kind=data["kind"],
                room=data.get("room"),
                until=data.get("until"),
            )
            actions.check_reason(data["reason"])
        except actions.ModerationError as refusal:
            raise ValidationError(refusal.detail) from refusal
        return data


class LiftForm(forms.Form):
    reason = _reason_field()


class ActiveFilter(admin.SimpleListFilter):
    title = "in force"
    parameter_name = "in_force"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "in force"), ("no", "lifted or run out")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Sanction]) -> QuerySet[Sanction]:
        active = actions.active_sanctions().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=active)
        if self.value() == "no":
            return queryset.exclude(pk__in=active)
        return queryset


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "kind", "where", "until", "in_force", "created_by", "created_at"]
    list_filter = [ActiveFilter, "kind"]
    list_select_related = ["user", "room", "created_by"]
    search_fields = ["user__username", "reason"]
    raw_id_fields = ["user", "room"]
    actions = ["lift"]
    form = SanctionForm

    def get_readonly_fields(self, request: HttpRequest, obj: Sanction | None = None) -> Any:
        # Once given, a sanction changes only by being lifted (an audited action).
        if obj is None:
            return []
        return ["user", "kind", "room", "until", "reason", "lifted_at", "created_by", "created_at"]

    def get_form(self, request: HttpRequest, obj: Sanction | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.moderator = request.user
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Sanction | None = None) -> bool:
        return False  # lift instead: the sanction stays on the record

    def save_model(self, request: HttpRequest, obj: Sanction, form: Any, change: bool) -> None:
        if change:
            return  # nothing on the change page is editable
        data = form.cleaned_data
        common = {"moderator": request.user, "user": data["user"], "room": data["room"], "reason": data["reason"]}
        if data["kind"] == Sanction.Kind.MUTE:
            made = actions.do_mute(**common, until=data["until"])
        else:
            made = actions.do_ban(**common, until=data["until"])
        # The admin's own bookkeeping (its log, the redirect) goes on with the sanction made.
        obj.pk, obj.created_at = made.pk, made.created_at
        obj._state.adding = False

    @admin.display(description="where")
    def where(self, sanction: Sanction) -> str:
        return room_label(sanction.room) if sanction.room else "the whole site"

    @admin.display(description="in force", boolean=True)
    def in_force(self, sanction: Sanction) -> bool:
        return sanction.lifted_at is None and (sanction.until is None or sanction.until > timezone.now())

    @admin.action(description="Lift the selected sanctions", permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet[Sanction]) -> HttpResponse | None:
        _may_act(request)
        form = LiftForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            lifted = 0
            for sanction in queryset.select_related("user"):
                try:
                    actions.do_lift(moderator=request.user, sanction=sanction, reason=form.cleaned_data["reason"])
                    lifted += 1
                except actions.ModerationError as refusal:
                    self.message_user(request, f"Sanction {sanction.pk}: {refusal.detail}", messages.WARNING)
            self.message_user(request, f"{lifted} sanction(s) lifted.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/moderation/sanction/lift.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Lift sanctions",
                "sanctions": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


# --- Rules and word lists ----------------------------------------------------------------------


class AuditedRulesAdmin(admin.ModelAdmin):
    """Every add, change and delete is written to the audit log (in the admin's transaction)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and hasattr(obj, "created_by_id"):
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        actions.do_record_rule_change(
            moderator=request.user, change="changed" if change else "added", what=obj, fields=form.changed_data
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        actions.do_record_rule_change(moderator=request.user, change="deleted", what=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            actions.do_record_rule_change(moderator=request.user, change="deleted", what=obj)
        super().delete_queryset(request, queryset)


@admin.register(RoomPolicy)
class RoomPolicyAdmin(AuditedRulesAdmin):
    list_display = ["__str__", "profanity", "links", "flood", "capitals", "length", "banned", "updated_at"]
    raw_id_fields = ["room"]


@admin.register(ProfanityWord)
class ProfanityWordAdmin(AuditedRulesAdmin):
    list_display = ["word", "created_by", "created_at"]
    search_fields = ["word"]
    exclude = ["created_by"]


@admin.register(BannedPhrase)
class BannedPhraseAdmin(AuditedRulesAdmin):
    list_display = ["text", "is_pattern", "room", "created_by", "created_at"]
    list_filter = ["is_pattern"]
    search_fields = ["text"]
    raw_id_fields = ["room"]
    exclude = ["created_by"]


# --- The audit log -------------------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: written by the actions, never edited or removed."""

    list_display = ["created_at", "actor", "action", "target_user", "room", "message_id", "reason_excerpt"]
    list_filter = ["action", ("actor", RelatedOnlyFieldListFilter), "created_at"]
    list_select_related = ["actor", "target_user", "room"]
    search_fields = ["reason", "message_id", "actor__username", "target_user__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    @admin.display(description="reason")
    def reason_excerpt(self, entry: AuditEntry) -> str:
        return Truncator(entry.reason).chars(60)


# --- A room's messages -----------------------------------------------------------------------------


class DeleteMessageForm(forms.Form):
    message_id = forms.CharField(max_length=64, widget=forms.HiddenInput)
    reason = _reason_field()


class ModeratedRoomAdmin(RoomAdmin):
    """chat's room admin, with the room's messages (from the history, read-only) and a delete
    for each: a page of moderation's, since chat imports no app above it."""

    change_form_template = "admin/moderation/room_change_form.html"

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "<path:object_id>/messages/",
                self.admin_site.admin_view(self.messages_view),
                name="chat_room_messages",
            )
        ]
        return extra + super().get_urls()

    def messages_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        room = get_object_or_404(Room.objects.prefetch_related("memberships__user"), pk=object_id)
        if not self.has_view_permission(request, room):
            raise PermissionDenied
        form = DeleteMessageForm(request.POST or None)
        if request.method == "POST":
            _may_act(request)
            if form.is_valid():
                try:
                    actions.do_delete_message(
                        moderator=request.user,
                        room_id=room.pk,
                        message_id=form.cleaned_data["message_id"],
                        reason=form.cleaned_data["reason"],
                    )
                except actions.ModerationError as refusal:
                    self.message_user(request, refusal.detail, messages.ERROR)
                else:
                    self.message_user(request, "The message is deleted for everyone.", messages.SUCCESS)
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(request, "Say why the message is deleted.", messages.ERROR)
        page, has_more = async_to_sync(chat_selectors.message_page)(
            room_id=room.pk, before=_seq_or_none(request.GET.get("before", "")), after=None, limit=ROOM_PAGE_SIZE
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": room,
            "title": "Messages",
            "subtitle": room_label(room),
            "room_label": room_label(room),
            # Newest first, as a moderator scans them.
            "room_messages": list(reversed(page)),
            "older": page[0]["seq"] if has_more and page else None,
            "may_act": request.user.has_perm("moderation.change_report"),
            "reason_max": actions.REASON_MAX_CHARS,
        }
        return TemplateResponse(request, "admin/moderation/room_messages.html", context)


admin.site.unregister(Room)
admin.site.register(Room, ModeratedRoomAdmin)


def _seq_or_none(text: str) -> int | None:
    """A page cursor from the address; anything that is not a seq (`²` passes isdigit, a
    thousand digits parse but no store takes them) reads as "the newest page"."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    seq = int(text)
    return seq if is_seq(seq) else None
