"""The fault suite: each fault strikes while members send steadily; afterwards no acknowledged
message may be lost (from MongoDB or from any member's client), stored twice or shown twice.

The tests restart Kafka, Redis, MongoDB and PostgreSQL, so they run against a private set of
services on ports of their own (tests/system/services.py: scripts/services.sh with another
ECHOSTREAM_HOME), never the shared ones.
Each test's numbers are written to the results file (see docs/reliability.md)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import override_settings

from echostream.core import kafka
from tests.system.checker import Member, Verdict, Workload, check, eventually, recovery_time, settle, stored
from tests.system.client import ChatClient
from tests.system.services import Services, private_services
from tests.system.stack import REPO, Stack

pytestmark = [pytest.mark.system, pytest.mark.faults, pytest.mark.django_db(transaction=False, databases=[])]

# Acknowledged messages before a fault strikes, and after the system is whole again.
BEFORE = 15
AFTER = 15
# How long a killed role or a stopped service stays away while members keep sending.
AWAY = 2.0
RESULTS = Path(os.environ.get("ECHOSTREAM_FAULT_RESULTS", REPO / ".local" / "fault-results.json"))
# The members and the rooms they share: each member in two rooms, each room with its own crowd.
CROWD = {"r0": ["u0", "u1", "u2"], "r1": ["u1", "u2", "u3"], "r2": ["u0", "u3"]}


@pytest.fixture(scope="module")
def services_private() -> Iterator[Services]:
    # A service that fails to come up does not outlive the run either.
    with private_services() as private:
        # The test process reads MongoDB and Kafka through the same settings as the roles (it
        # uses no relational database: the roles' is the stack's own, on the private PostgreSQL).
        with override_settings(**{name: url for name, url in private.urls.items() if name != "DATABASE_URL"}):
            yield private


@pytest.fixture(scope="module")
def fault_stack(services_private: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(Path(tmp_path_factory.mktemp("fault-stack")), services_private.urls)
    try:
        running.migrate()
        for role in ("web", "moderation", "bridge"):
            running.start(role)
        running.wait_ready(timeout=180)
        yield running
    finally:
        running.stop()


@pytest.fixture
async def workload(fault_stack: Stack, services_private: Services):
    """Four members, one socket each, in three rooms; sending starts with `workload.start()`."""
    # A test that failed midway may have left a role or a service down.
    await services_private.arun("up")
    for role in ("web", "moderation", "bridge"):
        if role not in fault_stack.processes or fault_stack.processes[role].poll() is not None:
            fault_stack.start(role)
    tag = uuid.uuid4().hex[:6]
    chats = {name: ChatClient(fault_stack.base_url, follows_rooms=False) for name in ("u0", "u1", "u2", "u3")}
    for name, chat in chats.items():
        await chat.signup(f"{name}{tag}")
    rooms: dict[str, list[str]] = {}
    for label, names in CROWD.items():
        room = await chats[names[0]].create_group(f"{label}-{tag}", [chats[n].username for n in names[1:]])
        rooms[room["id"]] = names
    members = {
        name: Member(chat, [room for room, names in rooms.items() if name in names]) for name, chat in chats.items()
    }
    for member in members.values():
        member.start()
    async with asyncio.timeout(60):
        for member in members.values():
            await member.ready.wait()
    made = Workload(members, rooms)
    try:
        yield made
    finally:
        await made.stop()
        for member in members.values():
            await member.close()


async def strike(fault: str, workload: Workload, fault_stack: Stack, inject: Callable[[], Awaitable[float]]) -> Verdict:
    """Sends, strikes with `inject` (which returns the moment the system is whole again: the role or
    service started again), sends on, then waits until everything acknowledged is stored and
    shown, and checks it."""
    workload.start()
    await workload.acked_count_reaches(BEFORE)
    whole_at = await inject()
    recovery = asyncio.create_task(recovery_time(workload, whole_at))
    await workload.acked_count_reaches(len(workload.acked()) + AFTER, timeout=180)
    await workload.stop()
    await settle(workload, time.monotonic(), timeout=120)
    verdict = await check(fault, workload, await recovery)
    record(verdict)
    if verdict.lost or verdict.duplicated:
        print(fault_stack.describe())
    return verdict


def record(verdict: Verdict) -> None:
    """Keeps each fault's last numbers, as JSON and as the table in docs/reliability.md."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[verdict.fault] = verdict.row()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "| fault | acknowledged | lost | duplicated | answered unavailable | time to recover (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results.values():
        recovery = "not recovered" if row["recovery_seconds"] is None else row["recovery_seconds"]
        lines.append(
            f"| {row['fault']} | {row['acknowledged']} | {row['lost']} | {row['duplicated']} "
            f"| {row['unavailable']} | {recovery} |"
        )
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")


def assert_nothing_lost_or_repeated(verdict: Verdict) -> None:
    assert verdict.acknowledged >= BEFORE + AFTER
    assert verdict.lost_from_store == [], "acknowledged but not in MongoDB"
    assert verdict.lost_from_clients == {}, "acknowledged but never shown to these members"
    assert verdict.stored_twice == []
    assert verdict.shown_twice == {}
    assert verdict.out_of_order == {}


@pytest.mark.parametrize("role", ["bridge", "moderation", "web"])
async def test_sigkill_of_a_role_mid_stream(workload: Workload, fault_stack: Stack, role: str):
    async def kill_and_restart() -> float:
        fault_stack.kill(role)
        await asyncio.sleep(AWAY)
        fault_stack.start(role)
        return time.monotonic()

    verdict = await strike(f"SIGKILL {role}", workload, fault_stack, kill_and_restart)

    assert_nothing_lost_or_repeated(verdict)
    if role == "web":
        assert verdict.reconnects >= len(workload.members), "every socket dropped with the web process"


@pytest.mark.parametrize("role", ["bridge", "moderation", "web"])
async def test_sigterm_of_a_role_mid_stream(workload: Workload, fault_stack: Stack, role: str):
    exit_statuses: list[int | None] = []

    async def terminate_and_restart() -> float:
        exit_statuses.append(await asyncio.to_thread(fault_stack.terminate, role))
        await asyncio.sleep(AWAY)
        fault_stack.start(role)
        return time.monotonic()

    verdict = await strike(f"SIGTERM {role}", workload, fault_stack, terminate_and_restart)

    # Graceful: it ends by itself, successfully (None: still running a minute after SIGTERM).
    assert exit_statuses == [0]
    assert_nothing_lost_or_repeated(verdict)


async def test_kafka_restart_mid_stream(workload: Workload, fault_stack: Stack, services_private: Services):
    away: list[float] = []

    async def stop_until_a_send_is_refused() -> float:
        await services_private.arun("stop", "kafka")
        away.append(time.monotonic())
        # Kafka stays away until the web process gives up on a send (its timeout), so that
        # sends are answered while it is gone, not only delayed.
        refused_before = workload.answered("error:unavailable")
        await eventually(
            lambda: workload.answered("error:unavailable") > refused_before or workload.answered("timeout") > 0,
            timeout=90,
        )
        away.append(time.monotonic())
        await services_private.arun("start", "kafka")
        return time.monotonic()

    verdict = await strike("restart Kafka", workload, fault_stack, stop_until_a_send_is_refused)

    assert verdict.unavailable > 0, "a send Kafka could not take is answered `unavailable`"
    assert workload.acked_between(*away) == [], "acknowledged while Kafka was away"
    assert workload.answered("timeout") == 0, "a send was left unanswered"
    assert_nothing_lost_or_repeated(verdict)


def restart_after_a_while(services_private: Services, service: str) -> Callable[[], Awaitable[float]]:
    """The fault: `service` stopped for AWAY seconds, then started; returns when it is started."""

    async def restart() -> float:
        await services_private.arun("stop", service)
        await asyncio.sleep(AWAY)
        await services_private.arun("start", service)
        return time.monotonic()

    return restart


async def test_redis_restart_mid_stream(workload: Workload, fault_stack: Stack, services_private: Services):
    verdict = await strike("restart Redis", workload, fault_stack, restart_after_a_while(services_private, "redis"))

    assert_nothing_lost_or_repeated(verdict)


async def test_mongodb_outage_keeps_live_chat_and_history_catches_up(
    workload: Workload, fault_stack: Stack, services_private: Services
):
    live_while_down: dict[str, dict[str, list[str]]] = {}

    async def outage() -> float:
        await services_private.arun("stop", "mongodb")
        down_at = time.monotonic()
        await workload.acked_count_reaches(len(workload.acked()) + AFTER, timeout=90)
        during = {cid: a for cid, a in workload.acked().items() if a.acked_at is not None and a.acked_at > down_at}
        # Live chat goes on: what is acknowledged while MongoDB is away reaches every member.
        await eventually(lambda: not workload.unshown(during), timeout=60)
        live_while_down["unshown"] = workload.unshown(during)
        await services_private.arun("start", "mongodb")
        return time.monotonic()

    verdict = await strike("MongoDB down", workload, fault_stack, outage)

    assert live_while_down["unshown"] == {}, "messages sent while MongoDB was down did not reach these members live"
    assert_nothing_lost_or_repeated(verdict)


async def test_postgres_restart_mid_stream(workload: Workload, fault_stack: Stack, services_private: Services):
    restart = restart_after_a_while(services_private, "postgres")
    verdict = await strike("restart PostgreSQL", workload, fault_stack, restart)

    assert_nothing_lost_or_repeated(verdict)
    # Sends the web could not check meanwhile were answered (`unavailable`), not left to time out.
    assert workload.answered("timeout") == 0, "a send was left unanswered"
    # No role was restarted: each renewed its connection by itself.
    for role in ("web", "moderation", "bridge"):
        assert fault_stack.processes[role].poll() is None, f"{role} stopped"


def poison_records(room_id: str) -> dict[str, list[bytes]]:
    """Records no consumer can process, by topic: bytes that are no envelope, and envelopes whose
    values are hostile (a sender that is no user, a time that overflows, a number too big)."""
    # Now: what makes the inbound ones unprocessable is their actor, not a time far from their record's.
    when = datetime.now(UTC).isoformat()

    def envelope(kind: str, actor: str, occurred_at: str, client_id: str) -> bytes:
        data = {"client_id": client_id, "body": "poison", "sender": actor}
        return json.dumps(
            {
                "id": uuid.uuid4().hex,
                "type": kind,
                "room": room_id,
                "occurred_at": occurred_at,
                "actor": actor,
                "v": 1,
                "data": data,
            }
        ).encode()

    return {
        kafka.inbound_topic(): [
            b"\xff\x00 not an envelope {",
            envelope("message.submitted", "not-a-user", when, "poison-forged"),
            envelope("message.submitted", "9" * 30, when, "poison-huge"),
        ],
        kafka.room_topic(room_id): [
            b"\xff\x00 not an envelope {",
            envelope("message.created", "9" * 30, "0001-01-01T00:00:00+14:00", "poison-overflow"),
        ],
    }


def produce(records: dict[str, list[bytes]], key: str) -> list[tuple[str, int]]:
    """Writes the records straight to their topics, as a hostile or broken producer would; their
    (topic, offset)s."""
    producer = kafka.make_sync_producer()
    written: list[tuple[str, int]] = []

    def delivered(error, message) -> None:
        assert error is None, error
        written.append((message.topic(), message.offset()))

    for topic, values in records.items():
        for value in values:
            producer.produce(topic, value=value, key=key.encode(), on_delivery=delivered)
    assert producer.flush(30) == 0
    return written


def dead_letters(wanted: set[tuple[str, int]], *, timeout: float = 120) -> set[tuple[str, int]]:
    """Which of the wanted (topic, offset)s the dead-letter topic holds (its records are JSON
    with the original `topic` and `offset`)."""
    topic = f"{settings.ECHOSTREAM_NAMESPACE}.deadletter"
    consumer = kafka.make_consumer(group_id=f"inspect-{uuid.uuid4().hex}")
    consumer.assign([kafka.TopicPartition(topic, 0, 0)])
    found: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout
    try:
        while found != wanted and time.monotonic() < deadline:
            record = consumer.poll(1)
            if record is None or record.error():
                if record is not None:
                    # The topic may not exist yet; ask again from the start.
                    consumer.assign([kafka.TopicPartition(topic, 0, 0)])
                continue
            try:
                letter = json.loads(record.value())
            except ValueError:
                continue
            if (letter.get("topic"), letter.get("offset")) in wanted:
                found.add((letter["topic"], letter["offset"]))
        return found
    finally:
        consumer.close()


ROLES = ("web", "moderation", "bridge")


async def readiness(stack: Stack) -> dict[str, tuple[int, dict]]:
    """Each role's /readyz: (status, body), the web's on its own port, a worker's on its metrics port."""
    answers = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for role in ROLES:
            response = await http.get(stack.metrics_url(role, "/readyz"))
            answers[role] = (response.status_code, response.json())
    return answers


async def every_role_ready(stack: Stack, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(status == 200 for status, _ in (await readiness(stack)).values()):
                return True
        except httpx.HTTPError:
            pass  # a role restarting after an earlier test
        await asyncio.sleep(1)
    return False


@pytest.mark.parametrize("service", ["kafka", "redis", "mongodb", "postgres"])
async def test_readyz_names_a_stopped_service_and_is_ready_again_once_it_is_back(
    fault_stack: Stack, services_private: Services, service: str
):
    await services_private.arun("up")
    assert await every_role_ready(fault_stack, timeout=120), await readiness(fault_stack)

    await services_private.arun("stop", service)
    try:
        # Each role reuses a readiness answer for up to a second (ops/health.py): ask until it is new.
        answers = await readiness(fault_stack)
        deadline = time.monotonic() + 30
        while any(status == 200 for status, _ in answers.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            answers = await readiness(fault_stack)
        async with httpx.AsyncClient(timeout=10) as http:
            alive = (await http.get(fault_stack.metrics_url("web", "/healthz"))).status_code
    finally:
        await services_private.arun("start", service)

    for role, (status, body) in answers.items():
        assert (role, status, body["status"], body["failed"]) == (role, 503, "unavailable", [service])
        assert body["services"][service]["ok"] is False
    assert alive == 200, "/healthz asks nothing else: the process is alive"
    assert await every_role_ready(fault_stack, timeout=180), await readiness(fault_stack)


# Last in the module on purpose: until the consumers dead-letter them, these records stop the
# roles again at every restart, and the roles and topics are shared by the module's tests.
async def test_poison_records_mid_stream_are_dead_lettered(workload: Workload, fault_stack: Stack):
    room_id = next(iter(workload.rooms))
    written: list[tuple[str, int]] = []

    async def poison() -> float:
        written.extend(await asyncio.to_thread(produce, poison_records(room_id), room_id))
        return time.monotonic()

    verdict = await strike("poison records", workload, fault_stack, poison)

    assert_nothing_lost_or_repeated(verdict)
    assert await asyncio.to_thread(dead_letters, set(written)) == set(written)
    for role in ("moderation", "bridge"):
        assert fault_stack.processes[role].poll() is None, f"{role} stopped"
    # A forged record never speaks for anyone: none of them became a message.
    documents = await stored(list(workload.rooms))
    assert [d for docs in documents.values() for d in docs if str(d.get("client_id")).startswith("poison")] == []
