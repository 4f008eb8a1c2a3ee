"""A mute or ban given, changed or lifted: the user's sockets forget the sanctions they kept
(moderation.services.check_send_allowed), once the change is stored."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from echostream.core import groups
from echostream.core.redis import RedisError
from moderation.models import Sanction

logger = logging.getLogger(__name__)


def _forget(user_id: str) -> None:
    try:
        async_to_sync(groups.forget_memos)(user_id)
    except (RedisError, OSError):
        # The worker checks every record against the database: nothing the sanction stops gets through.
        logger.warning("could not tell the sockets of user %s of a sanction", user_id, exc_info=True,
                       extra={"user_id": user_id})  # fmt: skip


@receiver([post_save, post_delete], sender=Sanction)
def forget_sanctions_kept(sender: Any, instance: Sanction, **_: Any) -> None:
    user_id = str(instance.user_id)
    transaction.on_commit(lambda: _forget(user_id))
