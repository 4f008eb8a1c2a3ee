"""Chat's JSON endpoints (PROTOCOL.md): parse and check the request, call one action, answer.

Refusals are raised, not answered here: `BadRequest` for bad input, `ChatError` from
the services; echostream.jsonapi.JsonErrorsMiddleware turns both into the JSON error shape."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt, csrf_protect, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import attachments, files, selectors, services
from chat.models import Room
from echostream import uploadlimit
from echostream.core import wire
from echostream.core.frames import is_seq
from echostream.jsonapi import (
    BadRequest,
    alogin_required_json,
    error,
    json_body,
    login_required_json,
    string_field,
)
from echostream.throttle import throttled


def _user_json(user: Any) -> dict[str, str]:
    return {"id": str(user.pk), "username": user.get_username()}


def _room_views(rooms: list[Room], *, viewer: Any) -> list[wire.Room]:
    # One trip into async for all of them: each crossing costs a thread hop.
    return async_to_sync(selectors.room_views)(
        rooms=rooms, viewer_id=str(viewer.pk), viewer_username=viewer.get_username()
    )


def _room_view(room: Room, *, viewer: Any) -> wire.Room:
    (view,) = _room_views(selectors.rooms_with_members(room_ids=[room.id]), viewer=viewer)
    return view


def _encoded(data: Any, *, status: int = 200) -> HttpResponse:
    """A JSON answer of wire structs (and plain data around them)."""
    return HttpResponse(msgspec.json.encode(data), status=status, content_type="application/json")


# --- Accounts -----------------------------------------------------------------


@require_GET
@ensure_csrf_cookie
def csrf(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"csrfToken": get_token(request)})


@require_POST
@throttled("signup")
def signup(request: HttpRequest) -> JsonResponse:
    body = json_body(request)
    username, password = string_field(body, "username").strip(), string_field(body, "password")
    field_errors = services.check_signup(username=username, password=password)
    if field_errors:
        return error("invalid", "Sign-up failed; see fields.", status=400, fields=field_errors)
    user = services.do_signup(username=username, password=password)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse(_user_json(user), status=201)


@require_POST
@throttled("signin")
def login_view(request: HttpRequest) -> JsonResponse:
    body = json_body(request)
    username, password = string_field(body, "username"), string_field(body, "password")
    user = authenticate(request, username=username, password=password)
    if user is None:
        return error("bad_credentials", "Wrong username or password.", status=400)
    login(request, user)
    return JsonResponse(_user_json(user))


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponse(status=204)


@require_GET
@login_required_json
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_user_json(request.user))


# --- Rooms ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required_json
@throttled("create_group")
def rooms(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _encoded({"rooms": _room_views(list(selectors.rooms_of(user=request.user)), viewer=request.user)})
    body = json_body(request)
    name = string_field(body, "name")
    members = body.get("members", [])
    if not isinstance(members, list) or not all(isinstance(member, str) for member in members):
        raise BadRequest("`members` must be a list of usernames.")
    room = services.do_create_group(creator=request.user, name=name, member_usernames=members)
    return _encoded(_room_view(room, viewer=request.user), status=201)


@require_POST
@login_required_json
def add_member(request: HttpRequest, room_id: str) -> JsonResponse:
    room = selectors.room_of_member(user=request.user, room_id=room_id)
    username = string_field(json_body(request), "username").strip()
    if not username:
        raise BadRequest("Say whom to add: `username` is empty.")
    membership = services.do_add_member(actor=request.user, room=room, username=username)
    return JsonResponse(
        {"room": room.id, "username": membership.user.get_username(), "role": membership.role}, status=201
    )


@require_http_methods(["DELETE"])
@login_required_json
def remove_member(request: HttpRequest, room_id: str, username: str) -> HttpResponse:
    room = selectors.room_of_member(user=request.user, room_id=room_id)
    services.do_remove_member(actor=request.user, room=room, username=username)
    return HttpResponse(status=204)


@require_POST
@login_required_json
@throttled("open_dm")
def open_dm(request: HttpRequest) -> HttpResponse:
    username = string_field(json_body(request), "username")
    room, created = services.do_open_dm(user=request.user, other_username=username)
    return _encoded(_room_view(room, viewer=request.user), status=201 if created else 200)


# --- History --------------------------------------------------------------------


_INTEGER = re.compile(r"-?[0-9]{1,20}")


def _optional_int(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return None
    # ASCII digits only: int() would also take " 5", "1_0" and other scripts' digits.
    if _INTEGER.fullmatch(raw) is None:
        raise BadRequest(f"`{name}` must be an integer.")
    value = int(raw)
    if not is_seq(value, minimum=-1):
        raise BadRequest(f"`{name}` is out of range.")
    return value


@require_GET
@alogin_required_json
async def messages(request: HttpRequest, room_id: str) -> JsonResponse:
    user = await request.auser()
    if not await selectors.ais_member(user_id=str(user.pk), room_id=room_id):
        return error("not_found", "No such room.", status=404)
    before, after = _optional_int(request, "before"), _optional_int(request, "after")
    limit = _optional_int(request, "limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= settings.HISTORY_MAX_LIMIT:
        raise BadRequest(f"`limit` must be between 1 and {settings.HISTORY_MAX_LIMIT}.")
    page, has_more = await selectors.message_page(room_id=room_id, before=before, after=after, limit=limit)
    return JsonResponse({"messages": page, "has_more": has_more})


# --- Attachments ----------------------------------------------------------------

# Room for the multipart framing around the file (boundaries, part headers, the CSRF field);
# the ASGI guard (echostream.uploadlimit) allows the same.
UPLOAD_OVERHEAD_BYTES = uploadlimit.OVERHEAD_BYTES
# Downloads run nothing: a file opened directly (not as a picture in the page) is sandboxed.
DOWNLOAD_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


# The upload handlers must be in place before anything reads the body, and the CSRF check reads
# it (the token may be a form field): so the check runs inside, once the handlers are set.
@csrf_exempt
@require_POST
@login_required_json
@throttled("upload")
def upload_attachment(request: HttpRequest, room_id: str) -> HttpResponse:
    selectors.room_of_member(user=request.user, room_id=room_id)
    max_bytes = settings.ATTACHMENT_MAX_BYTES
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) > max_bytes + UPLOAD_OVERHEAD_BYTES:
        raise files.FileTooLarge(max_bytes)
    # First: it stops a body without a length at the limit, before the others keep more of it.
    request.upload_handlers.insert(0, files.LimitedUploadHandler(request, max_bytes=max_bytes))
    return _upload_checked(request, room_id)


@csrf_protect
def _upload_checked(request: HttpRequest, room_id: str) -> HttpResponse:
    uploads = request.FILES.getlist("file")
    if not uploads:
        raise BadRequest("Send the file as the multipart field `file`.")
    if len(uploads) > 1 or len(request.FILES) > 1:
        raise BadRequest("One file per upload: send each file in a request of its own.")
    (upload,) = uploads
    attachment = attachments.do_upload(
        uploader_id=str(request.user.pk), uploader=request.user.get_username(), room_id=room_id, upload=upload
    )
    return JsonResponse(attachment, status=201)


@require_GET
@login_required_json
def attachment_file(request: HttpRequest, attachment_id: str) -> HttpResponse:
    return _download(request, attachment_id, thumbnail=False)


@require_GET
@login_required_json
def attachment_thumbnail(request: HttpRequest, attachment_id: str) -> HttpResponse:
    return _download(request, attachment_id, thumbnail=True)


def _download(request: HttpRequest, attachment_id: str, *, thumbnail: bool) -> HttpResponse:
    download = async_to_sync(attachments.adownload)(
        user_id=str(request.user.pk), attachment_id=attachment_id, thumbnail=thumbnail
    )
    try:
        handle = None if download is None else attachments.open_stored(download.storage_name)
    except FileNotFoundError:
        handle = None
    if download is None or handle is None:
        return error("not_found", "No such attachment.", status=404)
    response = FileResponse(
        handle, content_type=download.content_type, as_attachment=not download.inline, filename=download.filename
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # Members only, and a deleted message's files go: never kept by a shared cache, soon re-checked.
    response["Cache-Control"] = "private, max-age=60"
    return response
