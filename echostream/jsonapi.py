"""What every JSON endpoint shares: body parsing, the error shape, and sign-in checks.

Errors are `{"error": {"code", "detail"}}`; nothing under /api/ answers with HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from http import HTTPStatus
from typing import Any

import msgspec
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.deprecation import MiddlewareMixin

from chat.errors import ChatError

logger = logging.getLogger(__name__)


def error(code: str, detail: str, *, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail, **extra}}, status=status)


class BadRequest(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Throttled(Exception):
    """Too many requests through one door (echostream.throttle)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests; retry after {retry_after} s.")
        self.retry_after = retry_after


class ThrottleUnavailable(Exception):
    """The throttle cannot count (Redis is down), so its door stays shut."""


def json_body(request: HttpRequest) -> dict[str, Any]:
    # msgspec, unlike the json module, refuses a lone surrogate escape ("\\ud800"):
    # such a string is not text, and would fail later, deep in a store, as a 500.
    try:
        body = msgspec.json.decode(request.body or b"{}")
    except (msgspec.MsgspecError, RecursionError) as exc:
        raise BadRequest("The body is not JSON (or holds a string that is not valid Unicode).") from exc
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    if _holds_nul(body):
        raise BadRequest("The body holds a NUL character (\\u0000), which no field takes.")
    return body


def _holds_nul(value: Any) -> bool:
    # No field is binary: a NUL can only be an attack, and PostgreSQL refuses it in text anyway.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def string_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(f"`{name}` must be a string.")
    return value


def login_required_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return error("not_authenticated", "Sign in first.", status=401)
        return view(request, *args, **kwargs)

    return wrapper


def alogin_required_json(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    @wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = await request.auser()
        if not user.is_authenticated:
            return error("not_authenticated", "Sign in first.", status=401)
        return await view(request, *args, **kwargs)

    return wrapper


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return error(
            "csrf", f"CSRF check failed: {reason}. Send the token from /api/auth/csrf/ as X-CSRFToken.", status=403
        )
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason)


_STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}


def _throttle_refusal(exception: Exception, *, json: bool) -> HttpResponse | None:
    if isinstance(exception, Throttled):
        detail = f"Too many requests; try again in {exception.retry_after} s."
        response = error("rate_limited", detail, status=429) if json else _text(detail, status=429)
        response["Retry-After"] = str(exception.retry_after)
        return response
    if isinstance(exception, ThrottleUnavailable):
        detail = "The request limiter cannot be reached (Redis is down); try again shortly."
        response = error("unavailable", detail, status=503) if json else _text(detail, status=503)
        response["Retry-After"] = "5"
        return response
    return None


def _text(detail: str, *, status: int) -> HttpResponse:
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _refusal(exception: Exception) -> HttpResponse | None:
    """The answer to a request that was refused on purpose, or None for a failure."""
    if isinstance(exception, BadRequest):
        return error("invalid", exception.detail, status=400)
    if isinstance(exception, RequestDataTooBig):
        detail = f"The body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        return error("too_large", detail, status=413)
    if isinstance(exception, (MultiPartParserError, SuspiciousOperation)):
        # Django's own limits (too many fields, headers too long, a name it will not take).
        return error("invalid", f"The request was refused: {exception}", status=400)
    if isinstance(exception, ChatError):
        return error(exception.code, exception.detail, status=exception.status)
    return None


class JsonErrorsMiddleware(MiddlewareMixin):
    """The JSON API's one error handler. Views raise `BadRequest` for bad input and
    chat's services raise `ChatError`; both become the contract's
    `{"error": {"code", "detail"}}` here, so a view only parses, calls one action and
    answers. Under /api/ any other error that is not JSON yet (Django's own 404 and
    405 pages, a crash) is turned into that shape too. Before any of it, an address holding a
    NUL is refused on every path (in plain text outside /api/)."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        # The path and the query reach lookups before any view could check them.
        query = request.GET.lists()
        if "\x00" not in request.path and not any("\x00" in "".join([name, *values]) for name, values in query):
            return None
        detail = "The address holds a NUL character (%00), which no part of it takes."
        return error("invalid", detail, status=400) if _is_api(request) else _text(detail, status=400)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_api(request):
            # The sign-in and sign-up pages are throttled too; they answer in plain text.
            return _throttle_refusal(exception, json=False)
        refusal = _refusal(exception) or _throttle_refusal(exception, json=True)
        if refusal is not None:
            return refusal
        # The path only: the query string and the body may hold anything.
        logger.exception(
            "%s %s failed",
            request.method, request.path,
            exc_info=exception,
            extra={"method": request.method, "path": request.path},
        )  # fmt: skip
        return error("internal", "The server failed; try again.", status=500)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            not _is_api(request)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        code = _STATUS_CODES.get(status, "internal" if status >= 500 else "error")
        detail = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        replacement = error(code, f"{detail}.", status=status)
        if "Allow" in response:
            replacement["Allow"] = response["Allow"]
        return replacement
