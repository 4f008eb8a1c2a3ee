"""The `resume` frame's limits over an in-process socket (real Redis, Kafka, MongoDB)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("services")


async def test_resumes_over_the_rate_limit_are_rejected_with_retry_after(open_socket, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "resume": (1, 0.01)}
    socket = await open_socket()
    await socket.send_frame({"type": "resume", "rooms": {}})
    assert (await socket.answer())["type"] == "resume.done"
    await socket.send_frame({"type": "resume", "rooms": {}})
    answer = await socket.answer()
    assert (answer["type"], answer["reason"], answer["room"]) == ("message.rejected", "rate_limited", None)
    assert answer["retry_after"] > 0


@pytest.mark.parametrize(
    "rooms",
    [[], {"r": -2}, {"r": True}, {"r": 2**63}, {"r": "1"}, {"x" * 65: 0}, {f"r{n}": 0 for n in range(501)}],
)
async def test_a_malformed_resume_is_an_invalid_frame(open_socket, rooms):
    socket = await open_socket()
    await socket.send_frame({"type": "resume", "rooms": rooms})
    assert (await socket.answer())["code"] == "invalid_frame"
    assert await socket.still_answers()
