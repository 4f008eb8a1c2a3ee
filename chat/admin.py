from django.contrib import admin

from chat.models import Membership, Room


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "kind", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["id", "name"]
    inlines = [MembershipInline]
