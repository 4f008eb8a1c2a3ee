"""`redis.in_shared_pipeline` against the real Redis: the commands asked for in one turn of the
event loop go in one round trip, and each caller gets its own command's answer."""

import asyncio
import uuid

import pytest
from redis.exceptions import DataError, ResponseError

from echostream.core import redis

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
async def pipelines(redis_pipelines):
    """The number of commands of each pipeline sent."""
    yield redis_pipelines
    await redis.client().aclose()


def sizes(pipelines):
    return [len(commands) for commands in pipelines]


async def test_the_commands_of_one_turn_share_one_round_trip_and_each_gets_its_answer(pipelines):
    keys = [redis.key("test-shared", uuid.uuid4().hex) for _ in range(3)]

    answers = await asyncio.gather(
        *(redis.in_shared_pipeline(lambda pipe, key=key, n=n: pipe.incrby(key, n)) for n, key in enumerate(keys, 1))
    )

    assert answers == [[1], [2], [3]]
    assert sizes(pipelines) == [3]
    assert await asyncio.gather(*(redis.client().get(key) for key in keys)) == ["1", "2", "3"]


async def test_a_later_turn_goes_in_a_pipeline_of_its_own(pipelines):
    key = redis.key("test-shared", uuid.uuid4().hex)
    assert await redis.in_shared_pipeline(lambda pipe: pipe.incr(key)) == [1]
    assert await redis.in_shared_pipeline(lambda pipe: pipe.incr(key)) == [2]
    assert sizes(pipelines) == [1, 1]


async def test_a_command_that_fails_fails_for_its_caller_alone(pipelines):
    text, number = redis.key("test-shared", uuid.uuid4().hex), redis.key("test-shared", uuid.uuid4().hex)
    await redis.client().set(text, "not a number", ex=60)

    failed, counted = await asyncio.gather(
        redis.in_shared_pipeline(lambda pipe: pipe.incr(text)),
        redis.in_shared_pipeline(lambda pipe: pipe.incr(number)),
        return_exceptions=True,
    )

    assert isinstance(failed, ResponseError)
    assert counted == [1]
    assert sizes(pipelines) == [2]


async def test_each_caller_gets_the_answers_of_all_its_own_commands(pipelines):
    first, second = redis.key("test-shared", uuid.uuid4().hex), redis.key("test-shared", uuid.uuid4().hex)

    def two_commands(pipe):
        pipe.incr(first)
        pipe.incrby(first, 10)

    mine, theirs = await asyncio.gather(
        redis.in_shared_pipeline(two_commands), redis.in_shared_pipeline(lambda pipe: pipe.incr(second))
    )

    assert (mine, theirs) == ([1, 11], [1])
    assert sizes(pipelines) == [3]


async def test_a_value_that_cannot_be_sent_fails_for_its_caller_alone(pipelines):
    key = redis.key("test-shared", uuid.uuid4().hex)

    def broken(pipe):
        raise ValueError("a caller's own mistake")

    unsendable, mistaken, counted = await asyncio.gather(
        redis.in_shared_pipeline(lambda pipe: pipe.set(key, object())),
        redis.in_shared_pipeline(broken),
        redis.in_shared_pipeline(lambda pipe: pipe.incr(key)),
        return_exceptions=True,
    )

    assert isinstance(unsendable, DataError)
    assert isinstance(mistaken, ValueError)
    assert counted == [1]
