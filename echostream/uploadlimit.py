"""An ASGI guard for attachment uploads: a body over the limit is answered 413 before Django
reads it. Django's ASGI handler reads a request's whole body (to memory, then a temporary file)
before any view runs, so the view's own checks (chat.api.upload_attachment) come too late to
spare the disk: here a Content-Length over the limit is refused at once, and a body without
one (chunked) is cut off as soon as it passes the limit.

A client sends its whole body before it reads the answer. If the connection were closed with the
body half sent, it would see a reset, not the 413: so a body declared up to twice the limit (a
file a little too big, the usual case) is let in and thrown away by the server (uvicorn discards
a body its answer has already been sent for) while the client reads the answer. Anything larger,
and a chunked body cut off, closes the connection at once."""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

_UPLOAD_PATH = re.compile(r"\A/api/rooms/[^/]+/attachments/\Z")
# Room for the multipart framing around the file; chat.api.UPLOAD_OVERHEAD_BYTES is the same.
OVERHEAD_BYTES = 64 * 1024
# A declared body up to this many times the limit is thrown away after the 413, not cut off.
DISCARDED_UP_TO = 2


class _BodyTooLarge(Exception):
    pass


class UploadSizeLimit:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not _UPLOAD_PATH.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        limit = settings.ATTACHMENT_MAX_BYTES + OVERHEAD_BYTES
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await _refuse(send, close=int(length) > DISCARDED_UP_TO * limit)
            return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def watched_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _BodyTooLarge:
            if not started:
                await _refuse(send, close=True)


async def _refuse(send: Any, *, close: bool) -> None:
    detail = f"A file holds at most {settings.ATTACHMENT_MAX_BYTES} bytes."
    body = json.dumps({"error": {"code": "too_large", "detail": detail}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *([(b"connection", b"close")] if close else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
