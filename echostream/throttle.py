"""Throttles for the HTTP doors: sign-in, sign-up, group creation, opening a DM, reports,
attachment uploads.

django-ratelimit counts requests in fixed windows in Django's cache, which is
Redis (settings.CACHES), so every web copy shares the counts. Each door has rules
(a key: the client's IP, the signed-in user, or the username a sign-in names; and
a rate setting); a request over any rule is refused with `Throttled`.

When Redis cannot count, the door is shut (`ThrottleUnavailable`, 503) rather
than opened: an attacker must not get unlimited password guesses by making Redis
unreachable. Redis is also the channel layer, so chat is down anyway while it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from echostream.core.redis import RedisError
from echostream.jsonapi import Throttled, ThrottleUnavailable, json_body, string_field

KeyFunction = Callable[[str, HttpRequest], str]
View = Callable[..., HttpResponse]


def _named_username(group: str, request: HttpRequest) -> str:
    """The account a sign-in tries, from the form or the JSON body. Folded, so that
    `Alice` and `ALICE` share one bucket (sign-up refuses such near-twins anyway)."""
    if request.content_type == "application/json":
        name = string_field(json_body(request), "username")
    else:
        name = request.POST.get("username", "")
    return name.strip().casefold()


@dataclass(frozen=True)
class Rule:
    # django-ratelimit's "ip" (honours RATELIMIT_IP_META_KEY; IPv6 counted per /64)
    # or "user" (the signed-in user's id), or a function of the request.
    key: str | KeyFunction
    # The name of the setting that holds the rate ("10/m", "100/10s"), read per request
    # so that tests and operators can change it.
    rate_setting: str


DOORS: dict[str, tuple[Rule, ...]] = {
    "signin": (Rule(_named_username, "THROTTLE_SIGNIN_PER_USERNAME"), Rule("ip", "THROTTLE_SIGNIN_PER_IP")),
    "signup": (Rule("ip", "THROTTLE_SIGNUP_PER_IP"),),
    "create_group": (Rule("user", "THROTTLE_CREATE_GROUP_PER_USER"), Rule("ip", "THROTTLE_CREATE_GROUP_PER_IP")),
    "open_dm": (Rule("user", "THROTTLE_OPEN_DM_PER_USER"), Rule("ip", "THROTTLE_OPEN_DM_PER_IP")),
    "report": (Rule("user", "THROTTLE_REPORT_PER_USER"),),
    "upload": (Rule("user", "THROTTLE_UPLOAD_PER_USER"),),
}


def check_throttle(request: HttpRequest, *, door: str) -> None:
    """Counts this request against each of the door's rules; raises when one is over."""
    retry_after = 0
    for rule in DOORS[door]:
        try:
            usage = get_usage(
                request,
                group=f"{door}.{rule.rate_setting}",
                key=rule.key,
                rate=getattr(settings, rule.rate_setting),
                increment=True,
            )
        except (RedisError, OSError) as exc:
            raise ThrottleUnavailable() from exc
        if usage is None:  # RATELIMIT_ENABLE is off
            continue
        if usage["count"] == 0:
            # django-ratelimit's sign that the cache could not count (this request counts 1).
            raise ThrottleUnavailable()
        if usage["should_limit"]:
            retry_after = max(retry_after, usage["time_left"], 1)
    if retry_after:
        raise Throttled(retry_after)


def throttled(door: str) -> Callable[[View], View]:
    """Checks the door's throttle before the view handles a POST (reads are not counted)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                check_throttle(request, door=door)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
