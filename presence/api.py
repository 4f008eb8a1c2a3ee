from __future__ import annotations

from asgiref.sync import async_to_sync
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from chat.selectors import users_with_prefix
from echostream.jsonapi import login_required_json
from presence.selectors import presence_of


@require_GET
@login_required_json
def users(request: HttpRequest) -> JsonResponse:
    found = list(users_with_prefix(prefix=request.GET.get("q", "").strip()))
    presence = async_to_sync(presence_of)([str(user.pk) for user in found])
    return JsonResponse(
        {
            "users": [
                {
                    "id": str(user.pk),
                    "username": user.get_username(),
                    "online": presence[str(user.pk)][0],
                    "last_seen": presence[str(user.pk)][1],
                }
                for user in found
            ]
        }
    )
