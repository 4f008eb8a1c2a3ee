"""Rooms in the Django admin, as a moderator uses them: users are picked by id (a drop-down of
every user would list thousands), a direct conversation is named by its pair, and a room's kind
is fixed once it exists (a group turned DM would keep a crowd in a "pair's" room). A room deleted
here is gone from its members' clients at once.
moderation.admin adds the room's messages, with a delete, to this page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from chat import services
from chat.models import Membership, Room


def room_label(room: Room) -> str:
    """The room's name; for a direct conversation, its two members ("alice ↔ bob"). Uses the
    prefetched memberships when there are some."""
    if room.kind != Room.Kind.DM:
        return room.name or room.id
    names = sorted(membership.user.get_username() for membership in room.memberships.all())
    return " ↔ ".join(names) or f"direct message {room.id}"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["id", "label", "kind", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["id", "name", "memberships__user__username"]
    raw_id_fields = ["created_by"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Room]:
        return super().get_queryset(request).select_related("created_by").prefetch_related("memberships__user")

    def get_readonly_fields(self, request: HttpRequest, obj: Room | None = None) -> Any:
        # A room's kind decides who may be in it: fixed once the room exists.
        return ["kind", "created_at"] if obj is not None else ["created_at"]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        room = self.get_object(request, object_id)
        # The page names the room as the list does (a DM's str() is only its id).
        context = {"subtitle": room_label(room)} if room is not None else {}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is Membership:
            # Whom a moderator put in or took out hears it as from the page's own actions.
            services.do_announce_membership_changes(
                room_id=form.instance.pk,
                joined=[membership.user for membership in formset.new_objects],
                left=[membership.user for membership in formset.deleted_objects],
            )

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        services.do_delete_room(room=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        # The list's bulk delete: each room as on its own page, so that every member is told.
        for room in queryset:
            services.do_delete_room(room=room)

    @admin.display(description="name", ordering="name")
    def label(self, room: Room) -> str:
        return room_label(room)
