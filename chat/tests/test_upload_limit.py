"""echostream.uploadlimit: oversized upload bodies are answered 413 before Django reads them."""

from __future__ import annotations

import pytest

from echostream.uploadlimit import OVERHEAD_BYTES, UploadSizeLimit

PATH = "/api/rooms/r1/attachments/"


async def run(guard: UploadSizeLimit, *, headers: list, chunks: list[bytes], path: str = PATH) -> tuple[list, int]:
    sent: list = []
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]
    read = 0

    async def receive():
        nonlocal read
        read += 1
        return pending.pop(0)

    async def send(message):
        sent.append(message)

    await guard({"type": "http", "method": "POST", "path": path, "headers": headers}, receive, send)
    return sent, read


class ReadAll:
    """Stands for Django: reads the whole body, then answers 201."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope, receive, send):
        self.called = True
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.ATTACHMENT_MAX_BYTES = 1000


async def test_a_content_length_over_the_limit_is_refused_unread():
    app = ReadAll()
    sent, read = await run(
        UploadSizeLimit(app), headers=[(b"content-length", b"%d" % (2000 + OVERHEAD_BYTES))], chunks=[b"x"]
    )
    assert (sent[0]["status"], read, app.called) == (413, 0, False)
    assert b'"too_large"' in sent[1]["body"]


def closes(response_start: dict) -> bool:
    return (b"connection", b"close") in response_start["headers"]


async def test_a_body_declared_a_little_over_the_limit_is_let_in_to_be_thrown_away():
    limit = 1000 + OVERHEAD_BYTES
    sent, read = await run(UploadSizeLimit(ReadAll()), headers=[(b"content-length", b"%d" % (limit + 1))], chunks=[])
    assert (sent[0]["status"], read, closes(sent[0])) == (413, 0, False)


async def test_a_body_declared_far_over_the_limit_closes_the_connection():
    limit = 1000 + OVERHEAD_BYTES
    sent, read = await run(
        UploadSizeLimit(ReadAll()), headers=[(b"content-length", b"%d" % (2 * limit + 1))], chunks=[]
    )
    assert (sent[0]["status"], read, closes(sent[0])) == (413, 0, True)


async def test_a_chunked_body_is_cut_off_at_the_limit():
    app = ReadAll()
    chunk = b"x" * 32 * 1024
    sent, read = await run(UploadSizeLimit(app), headers=[], chunks=[chunk] * 10)
    assert sent[0]["status"] == 413 and closes(sent[0])
    assert read == 3  # (1000 + 64 KiB) is passed during the third chunk


async def test_a_body_within_the_limit_and_other_paths_pass():
    sent, _ = await run(UploadSizeLimit(ReadAll()), headers=[(b"content-length", b"10")], chunks=[b"x" * 10])
    assert sent[0]["status"] == 201
    sent, _ = await run(UploadSizeLimit(ReadAll()), headers=[], chunks=[b"x" * 200_000], path="/api/rooms/")
    assert sent[0]["status"] == 201
