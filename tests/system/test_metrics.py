"""Health, readiness and metrics of the running roles: the web's /metrics counts a real message in
and out, the bridge's metrics port counts it applied, and the consumer lag is Kafka's."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from echostream.core import events, kafka
from tests.system.stack import Stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]

# Everything here crosses Kafka and the roles on a busy shared machine: waits are generous, never asserted.
WAIT = 60

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=15)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.3)


async def test_a_message_is_counted_in_and_out_by_the_web_and_applied_by_the_bridge(stack: Stack, clients):
    alice, bob, carol = await clients("alice"), await clients("bob"), await clients("carol")
    room = await alice.create_group("metered", [bob.username, carol.username])
    urls = {role: stack.metrics_url(role) for role in ("web", "moderation", "bridge")}
    before = await asyncio.to_thread(lambda: {role: scrape(url) for role, url in urls.items()})

    await alice.send_message(room["id"], "count me")
    assert (await alice.next_frame("message.ack"))["room"] == room["id"]
    for member in (alice, bob, carol):
        assert (await member.next_frame("message.new"))["message"]["body"] == "count me"

    def grown(process: str, name: str, **labels: str) -> float:
        return value(now[process], name, **labels) - value(before[process], name, **labels)

    now: dict[str, Samples] = {}

    def counted() -> bool:
        now.update({role: scrape(url) for role, url in urls.items()})
        return (
            grown("web", "echostream_messages_out_total", role="web", type="message.new") >= 3
            and grown("bridge", "echostream_bridge_events_applied_total", role="bridge-store") >= 1
        )

    await until(counted, "the frames out and the stored event counted")
    assert grown("web", "echostream_messages_in_total", role="web") == 1
    assert grown("web", "echostream_send_ack_seconds_count", role="web") == 1
    assert grown("web", "echostream_event_delivery_seconds_count", role="web") >= 3
    assert value(now["web"], "echostream_connected_sockets", role="web") >= 3
    assert grown("moderation", "echostream_moderation_checked_total", role="moderation", outcome="allow") >= 1
    assert grown("bridge", "echostream_bridge_events_applied_total", role="bridge-fanout") >= 1
    # Each process shows only what it counted.
    assert not any(labels and dict(labels).get("role") == "web" for _, labels in now["bridge"])


async def test_a_refused_send_is_counted_by_its_reason(stack: Stack, clients):
    alice = await clients("alice")
    before = await asyncio.to_thread(scrape, stack.metrics_url("web"))
    await alice.send_message("no-such-room", "hello?")
    assert (await alice.next_frame("message.rejected"))["reason"] == "forbidden"

    def refused() -> bool:
        grown = value(scrape(stack.metrics_url("web")), "echostream_rejections_total", role="web", reason="forbidden")
        return grown - value(before, "echostream_rejections_total", role="web", reason="forbidden") == 1

    await until(refused, "the refusal counted once")


async def test_every_role_answers_healthz_and_readyz(stack: Stack):
    async with httpx.AsyncClient(timeout=15) as http:
        for role in ("web", "moderation", "bridge"):
            alive = await http.get(stack.metrics_url(role, "/healthz"))
            assert (alive.status_code, alive.json()) == (200, {"status": "ok"}), role
            ready = await http.get(stack.metrics_url(role, "/readyz"))
            assert ready.status_code == 200, (role, ready.text)
            assert ready.json() == {
                "status": "ready",
                "services": {name: {"ok": True} for name in ("kafka", "redis", "mongodb", "postgres")},
            }, role


def bridge_lags() -> dict[str, int]:
    return {lag.group: lag.lag for lag in kafka.consumer_group_lags() if lag.role.startswith("bridge")}


def write_to_new_room(valid: int) -> None:
    """`valid` message.created records and one that is not an event, in a room topic of their own."""
    room_id = uuid.uuid4().hex[:16]
    kafka.ensure_room_topic(room_id)
    producer = kafka.make_sync_producer()
    for n in range(valid):
        created = events.MessageCreated(
            id=events.new_event_id(),
            room=room_id,
            occurred_at=events.now(),
            actor="1",
            data=events.CreatedData(client_id=f"lag-{n}", body="waiting for the bridge", sender="someone"),
        )
        producer.produce(kafka.room_topic(room_id), key=room_id.encode(), value=events.encode(created))
    producer.produce(kafka.room_topic(room_id), key=room_id.encode(), value=b"not an event")
    assert producer.flush(30) == 0


async def test_the_consumer_lag_is_what_the_stopped_bridge_left_and_the_restarted_one_counts_it(stack: Stack):
    bridge = stack.processes.pop("bridge")
    bridge.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(bridge.wait, 60) == 0
    try:
        # Nothing consumes the room topics now: their lag only grows by what is written.
        left = await asyncio.to_thread(bridge_lags)
        assert set(left) == {kafka.bridge_group(), kafka.bridge_store_group()}
        await asyncio.to_thread(write_to_new_room, 3)

        def shown() -> bool:
            gauge = scrape(stack.metrics_url("web"))
            return all(
                value(gauge, "echostream_consumer_lag_records", group=group, role=role) == left[group] + 4
                for group, role in ((kafka.bridge_group(), "bridge"), (kafka.bridge_store_group(), "bridge-store"))
            )

        await until(shown, "the web's gauge shows the four records the bridge groups have not consumed")
        gauge = await asyncio.to_thread(scrape, stack.metrics_url("web"))
        assert (
            "echostream_consumer_lag_records",
            (("group", kafka.moderation_group()), ("role", "moderation")),
        ) in gauge
    finally:
        stack.start("bridge")

    # The new bridge process counts from zero: every record it finds is applied or dead-lettered.
    await until(lambda: all(lag == 0 for lag in bridge_lags().values()), "the restarted bridge catches up")
    counted = await asyncio.to_thread(scrape, stack.metrics_url("bridge"))
    for half in ("bridge-fanout", "bridge-store"):
        group = kafka.bridge_group() if half == "bridge-fanout" else kafka.bridge_store_group()
        applied = value(counted, "echostream_bridge_events_applied_total", role=half)
        dead = value(counted, "echostream_dead_letters_total", role=half)
        assert dead >= 1 and applied >= 3, (half, applied, dead)
        assert applied + dead == left[group] + 4, half
