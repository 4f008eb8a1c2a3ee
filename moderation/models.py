"""What moderators keep in the relational database and edit in the admin: the rules each
room's messages pass through, the words and patterns they add, sanctions, reports, and the
audit log of what every moderator did. The worker reads rules and words afresh (a short
cache at most), so a change in the admin needs no restart."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from chat.models import Room


class Action(models.TextChoices):
    """What a rule does to a message that breaks it."""

    ALLOW = "allow", "allow (do nothing)"
    CENSOR = "censor", "censor (mask the offending words)"
    REJECT = "reject", "reject (the sender is told why)"
    FLAG = "flag", "flag for review (deliver and open a report)"


class RoomPolicy(models.Model):
    """The rules of one room; the one row without a room is the site's default, which every
    room without a policy of its own follows."""

    room = models.OneToOneField(Room, null=True, blank=True, on_delete=models.CASCADE, related_name="policy")
    profanity = models.CharField(max_length=8, choices=Action.choices, default=Action.CENSOR)
    links = models.CharField(
        max_length=8,
        choices=Action.choices,
        default=Action.REJECT,
        help_text="For a link to a denied domain, to a domain not allowed (when an allow list is given), "
        "or more links in one message than the maximum.",
    )
    allowed_domains = models.TextField(blank=True, help_text="One per line; empty: every domain not denied.")
    denied_domains = models.TextField(blank=True, help_text="One per line; subdomains included.")
    max_links = models.PositiveIntegerField(default=3)
    flood = models.CharField(
        max_length=8,
        choices=Action.choices,
        default=Action.REJECT,
        help_text="For the same text sent more than `flood repeats` times within the window.",
    )
    flood_repeats = models.PositiveIntegerField(default=3)
    flood_window_seconds = models.PositiveIntegerField(default=60)
    capitals = models.CharField(max_length=8, choices=Action.choices, default=Action.REJECT)
    capitals_max_ratio = models.FloatField(default=0.7, help_text="Of the letters, the share that may be capitals.")
    capitals_min_letters = models.PositiveIntegerField(default=12, help_text="Shorter messages may shout.")
    length = models.CharField(max_length=8, choices=Action.choices, default=Action.REJECT)
    max_length = models.PositiveIntegerField(default=4000)
    banned = models.CharField(
        max_length=8, choices=Action.choices, default=Action.REJECT, help_text="For the banned words and patterns."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "room policies"
        constraints = [
            models.UniqueConstraint(
                fields=["room"], condition=models.Q(room__isnull=True), name="one_site_default_policy"
            )
        ]

    def __str__(self) -> str:
        return f"policy of {self.room}" if self.room_id else "site default policy"


class ProfanityWord(models.Model):
    """A word added to better-profanity's list (its leetspeak variants are caught too)."""

    word = models.CharField(max_length=100, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.word


class BannedPhrase(models.Model):
    """A word, phrase or regular expression that the `banned` rule acts on."""

    text = models.CharField(max_length=300)
    is_pattern = models.BooleanField(default=False, help_text="A Python regular expression, matched case-blind.")
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every room.", related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"/{self.text}/" if self.is_pattern else self.text


class Sanction(models.Model):
    class Kind(models.TextChoices):
        MUTE = "mute", "muted (may read, not send)"
        BAN = "ban", "banned (may neither read nor send)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sanctions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: the whole site.", related_name="+"
    )
    reason = models.TextField()
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted.")
    lifted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "lifted_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.get_kind_display()}"


class Report(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "open"
        DISMISSED = "dismissed", "dismissed"
        ACTIONED = "actioned", "actioned"

    # Empty when a rule flagged the message for review.
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=64)
    message_seq = models.BigIntegerField(null=True, blank=True)
    message_sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the message said when reported: a deleted message is still judged by it.
    message_body = models.TextField(blank=True)
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reporter", "message_id"],
                condition=models.Q(status="open"),
                name="one_open_report_per_user_and_message",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"report {self.pk} on {self.message_id}"


class AuditEntry(models.Model):
    """One thing a moderator (or a rule, with no actor) did; written by the services that do
    it, never edited."""

    class Kind(models.TextChoices):
        DELETE_MESSAGE = "delete_message", "deleted a message"
        MUTE = "mute", "muted a user"
        BAN = "ban", "banned a user"
        LIFT = "lift", "lifted a sanction"
        DISMISS_REPORT = "dismiss_report", "dismissed a report"
        FLAG = "flag", "flagged a message for review"
        CHANGE_RULES = "change_rules", "changed rules or word lists"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Kind.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor or 'a rule'} {self.get_action_display()}"
