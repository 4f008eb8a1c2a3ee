"""The per-(user, kind) token buckets against the real Redis."""

import uuid

import pytest

from chat import ratelimit
from echostream.core import redis

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def user_id():
    yield uuid.uuid4().hex
    await redis.client().aclose()


async def test_a_burst_over_the_limit_is_refused(settings, user_id):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send": (5, 0.01)}
    results = [await ratelimit.take_token(user_id=user_id, kind="send") for _ in range(8)]
    assert results[:5] == [None] * 5
    assert all(wait is not None for wait in results[5:])


async def test_a_refusal_says_how_long_until_the_next_token(settings, user_id):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "edit": (1, 0.5)}
    assert await ratelimit.take_token(user_id=user_id, kind="edit") is None
    wait = await ratelimit.take_token(user_id=user_id, kind="edit")
    # One token at half a token per second: at most two seconds away.
    assert wait is not None and 0 < wait <= 2.0


async def test_users_have_separate_buckets(settings, user_id):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send": (1, 0.01)}
    second = uuid.uuid4().hex
    assert await ratelimit.take_token(user_id=user_id, kind="send") is None
    assert await ratelimit.take_token(user_id=user_id, kind="send") is not None
    assert await ratelimit.take_token(user_id=second, kind="send") is None


async def test_each_kind_has_its_own_bucket(settings, user_id):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "receipt": (1, 0.01), "send": (1, 0.01)}
    assert await ratelimit.take_token(user_id=user_id, kind="receipt") is None
    assert await ratelimit.take_token(user_id=user_id, kind="receipt") is not None
    assert await ratelimit.take_token(user_id=user_id, kind="send") is None


async def test_a_send_done_already_takes_no_token_and_says_so(settings, user_id):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send": (1, 0.01)}
    done = redis.key("test-done", user_id)
    await redis.client().set(done, "1", ex=60)

    assert await ratelimit.take_token(user_id=user_id, kind="send", unless_exists=done) == ratelimit.DONE_ALREADY
    assert await ratelimit.take_token(user_id=user_id, kind="send", unless_exists=done) == ratelimit.DONE_ALREADY
    # The bucket's one token is still there, and a key that does not exist leaves it to the bucket.
    assert await ratelimit.take_token(user_id=user_id, kind="send", unless_exists=f"{done}-not") is None
    assert await ratelimit.take_token(user_id=user_id, kind="send", unless_exists=f"{done}-not") is not None
