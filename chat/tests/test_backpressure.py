"""Backpressure's signal, against the real Redis."""

import asyncio
from datetime import timedelta

import pytest

from chat import backpressure
from echostream.core import events, redis


@pytest.fixture
async def clean_signal(services, settings):
    settings.BACKPRESSURE_READ_SECONDS = 0
    await redis.client().delete(backpressure._key())
    yield
    await redis.client().delete(backpressure._key())
    await redis.client().aclose()


async def test_records_taken_in_time_let_senders_send(clean_signal, settings):
    settings.BACKPRESSURE_MAX_LAG_SECONDS = 5
    await backpressure.note_taken(appended_at=events.now() - timedelta(seconds=1))
    assert await backpressure.retry_after() is None


async def test_a_record_taken_late_makes_senders_wait(clean_signal, settings):
    settings.BACKPRESSURE_MAX_LAG_SECONDS = 5
    settings.BACKPRESSURE_WINDOW_SECONDS = 30
    await backpressure.note_taken(appended_at=events.now() - timedelta(seconds=8))
    wait = await backpressure.retry_after()
    assert wait is not None and 0 < wait <= 30


async def test_the_signal_goes_away_by_itself_once_the_consumers_keep_up(clean_signal, settings):
    settings.BACKPRESSURE_MAX_LAG_SECONDS = 5
    settings.BACKPRESSURE_WINDOW_SECONDS = 0.3
    await backpressure.note_taken(appended_at=events.now() - timedelta(seconds=8))
    assert await backpressure.retry_after() is not None
    await backpressure.note_taken(appended_at=events.now())
    await asyncio.sleep(0.6)
    assert await backpressure.retry_after() is None


async def test_a_process_reads_the_signal_at_most_once_per_read_interval(clean_signal, settings):
    settings.BACKPRESSURE_MAX_LAG_SECONDS = 5
    settings.BACKPRESSURE_WINDOW_SECONDS = 30
    settings.BACKPRESSURE_READ_SECONDS = 0.5
    await asyncio.sleep(0.5)  # past any reading an earlier test left
    assert await backpressure.retry_after() is None
    await backpressure.note_taken(appended_at=events.now() - timedelta(seconds=8))
    assert await backpressure.retry_after() is None  # read less than half a second ago
    await asyncio.sleep(0.5)
    wait = await backpressure.retry_after()
    assert wait is not None and 0 < wait <= 30


async def test_a_send_that_waited_past_the_limit_in_the_web_makes_its_sender_wait(clean_signal, settings):
    settings.BACKPRESSURE_MAX_WAIT_SECONDS = 5
    settings.BACKPRESSURE_WINDOW_SECONDS = 3
    assert await backpressure.retry_after(waited=4.9) is None
    assert await backpressure.retry_after(waited=5.1) == 3
