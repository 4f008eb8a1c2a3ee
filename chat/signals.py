"""Closes a user's open sockets when their credentials stop being good: they sign
out, are deactivated (in the admin, say), or their password changes.

A socket is authenticated once, when it opens; without this it would go on
receiving and sending for a session that no longer exists.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from echostream.core import groups
from echostream.core.redis import RedisError

logger = logging.getLogger(__name__)
User = get_user_model()
# Set by pre_save on the instance being saved, read by post_save.
_ENDS_SESSIONS = "_echostream_ends_sessions"


def _close_sockets(user_id: str) -> None:
    try:
        async_to_sync(groups.end_sessions)(user_id)
    except (RedisError, OSError):
        # Redis is the channel layer: while it is down no socket gets anything anyway.
        logger.warning("could not close the sockets of user %s", user_id, exc_info=True, extra={"user_id": user_id})


@receiver(user_logged_out)
def close_sockets_on_sign_out(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser | None, **_: Any
) -> None:
    if user is not None:
        _close_sockets(str(user.pk))


@receiver(pre_save, sender=User)
def note_credentials_change(sender: Any, instance: AbstractBaseUser, update_fields: Any, **_: Any) -> None:
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return  # a new user, or a save that touches neither (the last_login of each sign-in)
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    ends = before is not None and (
        before["password"] != instance.password or (before["is_active"] and not instance.is_active)
    )
    setattr(instance, _ENDS_SESSIONS, ends)


@receiver(post_save, sender=User)
def close_sockets_on_credentials_change(sender: Any, instance: AbstractBaseUser, **_: Any) -> None:
    if getattr(instance, _ENDS_SESSIONS, False):
        setattr(instance, _ENDS_SESSIONS, False)
        user_id = str(instance.pk)
        # Only once the change is stored: a socket closed earlier could reopen on the old credentials.
        transaction.on_commit(lambda: _close_sockets(user_id))
