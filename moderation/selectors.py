"""Moderation's reads."""

from __future__ import annotations

from django.contrib.auth import get_user_model

User = get_user_model()


def active_username(*, user_id: str) -> str | None:
    """The user's current username; None for no such user, or one who may no longer act."""
    return User.objects.filter(pk=user_id, is_active=True).values_list(User.USERNAME_FIELD, flat=True).first()
