import secrets

from django.conf import settings
from django.db import models


def new_room_id() -> str:
    # Random rather than sequential: a room id is never reused, so neither is its
    # Kafka topic, and ids reveal nothing about how many rooms exist.
    return secrets.token_hex(8)


class Room(models.Model):
    class Kind(models.TextChoices):
        DM = "dm", "direct message"
        GROUP = "group", "group"

    id = models.CharField(primary_key=True, max_length=32, default=new_room_id, editable=False)
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.GROUP)
    # "<smaller user id>:<larger user id>" for a DM, so the pair has exactly one room.
    dm_key = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms")

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.id}"


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "admin"
        MEMBER = "member", "member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="one_membership_per_user_and_room")]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"
