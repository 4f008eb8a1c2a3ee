"""The consumer-lag gauge of the web's /metrics, against the real Kafka."""

from __future__ import annotations

import uuid

import pytest

from echostream.core import kafka
from ops import metrics as ops_metrics
from tests.inprocess import put_event_in_room


def samples(collector: ops_metrics.ConsumerLagCollector) -> dict[tuple[str, str], float]:
    (family,) = collector.collect()
    assert family.name == "echostream_consumer_lag_records"
    return {(sample.labels["group"], sample.labels["role"]): sample.value for sample in family.samples}


@pytest.fixture
def own_namespace(services, settings):
    """A namespace of the test's own, so that the groups' lag counts only what the test writes."""
    settings.ECHOSTREAM_NAMESPACE = f"{settings.ECHOSTREAM_NAMESPACE}.lag{uuid.uuid4().hex[:8]}"
    yield settings.ECHOSTREAM_NAMESPACE
    kafka.delete_namespace_topics()


def test_records_no_group_has_consumed_are_the_lag_of_both_bridge_groups(own_namespace):
    room_id = uuid.uuid4().hex[:16]
    kafka.ensure_room_topic(room_id)
    put_event_in_room(room_id, 3)

    lags = samples(ops_metrics.ConsumerLagCollector())

    assert lags == {
        (f"{own_namespace}.moderation", "moderation"): 0,
        (f"{own_namespace}.bridge", "bridge"): 3,
        (f"{own_namespace}.bridge-store", "bridge-store"): 3,
    }


def fake_lags(calls: list[float]):
    def source(*, timeout: float) -> list[kafka.GroupLag]:
        calls.append(timeout)
        return [kafka.GroupLag(group="ns.bridge", role="bridge", lag=len(calls), partitions=1, uncommitted=0)]

    return source


def test_scrapes_within_the_cache_time_ask_kafka_once():
    calls: list[float] = []
    collector = ops_metrics.ConsumerLagCollector(source=fake_lags(calls), cache_seconds=3600)
    assert samples(collector) == samples(collector) == {("ns.bridge", "bridge"): 1}
    assert len(calls) == 1


def test_scrapes_after_the_cache_time_ask_kafka_again():
    calls: list[float] = []
    collector = ops_metrics.ConsumerLagCollector(source=fake_lags(calls), cache_seconds=0)
    assert samples(collector) == {("ns.bridge", "bridge"): 1}
    assert samples(collector) == {("ns.bridge", "bridge"): 2}


def test_a_kafka_that_does_not_answer_leaves_the_gauge_empty_and_is_not_asked_per_scrape(caplog):
    calls: list[float] = []

    def down(*, timeout: float) -> list[kafka.GroupLag]:
        calls.append(timeout)
        raise kafka.KafkaException("no broker")

    collector = ops_metrics.ConsumerLagCollector(source=down, cache_seconds=3600)
    assert samples(collector) == samples(collector) == {}
    assert len(calls) == 1
    assert "consumer lag unknown" in caplog.text
