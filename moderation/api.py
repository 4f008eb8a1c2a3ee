"""Moderation's JSON endpoint: a member reports a message (PROTOCOL.md). Parse, check, call
one action, answer; refusals are raised and echostream.jsonapi answers them as JSON."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from echostream.jsonapi import json_body, login_required_json, string_field
from echostream.throttle import throttled
from moderation import actions


@require_POST
@login_required_json
@throttled("report")
def report(request: HttpRequest, room_id: str, message_id: str) -> JsonResponse:
    reason = string_field(json_body(request), "reason")
    made, created = actions.do_report(reporter=request.user, room_id=room_id, message_id=message_id, reason=reason)
    return JsonResponse({"id": str(made.pk), "status": made.status}, status=201 if created else 200)
