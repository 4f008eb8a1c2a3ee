"""The send-rate token bucket against the real Redis."""

import uuid

import pytest

from chat import ratelimit
from echostream.core import redis

pytestmark = pytest.mark.usefixtures("services")


async def test_a_burst_over_the_limit_is_refused(settings):
    settings.RATE_LIMIT_BURST = 5
    settings.RATE_LIMIT_PER_SECOND = 0.01
    user_id = uuid.uuid4().hex
    results = [await ratelimit.take_send_token(user_id=user_id) for _ in range(8)]
    assert results == [True] * 5 + [False] * 3
    await redis.client().aclose()


async def test_users_have_separate_buckets(settings):
    settings.RATE_LIMIT_BURST = 1
    settings.RATE_LIMIT_PER_SECOND = 0.01
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    assert await ratelimit.take_send_token(user_id=first) is True
    assert await ratelimit.take_send_token(user_id=first) is False
    assert await ratelimit.take_send_token(user_id=second) is True
    await redis.client().aclose()
