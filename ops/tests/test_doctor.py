"""The doctor against the real services, in process, on a namespace of its own (conftest)."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from chat import repository
from chat.models import Room
from echostream.core import kafka, mongo

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def doctor(*args: str) -> tuple[int, str]:
    """(exit status, what it printed)."""
    out = io.StringIO()
    try:
        call_command("doctor", *args, stdout=out)
    except SystemExit as exited:
        return int(exited.code or 0), out.getvalue()
    return 0, out.getvalue()


def line_about(text: str, subject: str) -> str:
    (line,) = [line for line in text.splitlines() if f" {subject}:" in line]
    return line


def make_indexes(*indexes: mongo.Index) -> None:
    async def make() -> None:
        for index in indexes:
            await mongo.create_index(repository.MESSAGES, index)
        await mongo.close()

    asyncio.run(make())


@pytest.fixture
def healthy(namespace: str) -> Room:
    """A room with its topic, the inbound topic, and MongoDB's indexes: all a deployment makes."""
    room = Room.objects.create(name="lounge")
    kafka.ensure_inbound_topic()
    kafka.ensure_room_topic(room.pk)
    make_indexes(*repository.INDEXES[repository.MESSAGES])
    return room


def test_a_healthy_namespace_exits_0_with_every_check_passed(healthy):
    status, text = doctor()

    assert status == 0, text
    assert "FAIL" not in text and "SKIP" not in text
    for service in ("kafka", "redis", "mongodb", "postgres"):
        assert line_about(text, service).startswith("  OK ")
    assert line_about(text, kafka.inbound_topic()).startswith("  OK ")
    assert "1 room(s), each with its topic" in line_about(text, "room topics")
    assert line_about(text, f"{mongo.database_name()}.messages").startswith("  OK ")
    assert line_about(text, f"{mongo.database_name()}.messages, edits stored").startswith("  OK ")
    assert line_about(text, "migrations").startswith("  OK ")
    # No role runs in the test's namespace: said, but a warning only.
    assert line_about(text, kafka.moderation_group()).startswith("  WARN ")
    assert text.rstrip().splitlines()[-1].startswith("no failure: 0 failed, 3 warning(s), 0 skipped")


def test_a_group_behind_fails_naming_the_group_its_lag_and_the_role_to_start(healthy):
    producer = kafka.make_sync_producer()
    for n in range(3):
        producer.produce(kafka.inbound_topic(), key=healthy.pk.encode(), value=f"submission {n}".encode())
    assert producer.flush(10) == 0

    status, text = doctor("--max-lag", "2")

    assert status == 1
    line = line_about(text, kafka.moderation_group())
    assert line.startswith("  FAIL ")
    assert "lag 3 records" in line and "0 moderation consumer(s) running" in line and "role is down" in line
    assert "python manage.py moderation_worker" in text
    # The bridges have nothing to read: still only a warning for them.
    assert line_about(text, kafka.bridge_group()).startswith("  WARN ")

    # Under the threshold, the same lag is a warning.
    status, text = doctor("--max-lag", "3")
    assert status == 0
    assert "3 records wait for it" in line_about(text, kafka.moderation_group())


def test_json_gives_each_check_with_its_findings_and_figures(healthy, namespace):
    producer = kafka.make_sync_producer()
    producer.produce(kafka.inbound_topic(), key=healthy.pk.encode(), value=b"one")
    assert producer.flush(10) == 0

    status, text = doctor("--json", "--max-lag", "0")

    assert status == 1
    report = json.loads(text)
    assert report["ok"] is False and report["failures"] == 1 and report["namespace"] == namespace
    assert [check["name"] for check in report["checks"]] == [
        "services",
        "topics",
        "consumer_groups",
        "mongodb_indexes",
        "migrations",
    ]
    groups = {finding["subject"]: finding for finding in report["checks"][2]["findings"]}
    assert groups[kafka.moderation_group()]["status"] == "fail"
    assert groups[kafka.moderation_group()]["figures"] == {"lag": 1, "partitions": 4, "members": 0, "uncommitted": 1}


def test_a_room_without_topic_fails_and_a_topic_without_room_warns(healthy):
    lost = Room.objects.create(name="made in the admin")
    kafka.ensure_room_topic("gone0000deadbeef")

    status, text = doctor()

    assert status == 1
    lines = [line for line in text.splitlines() if " room topics:" in line]
    assert lines[0].startswith("  FAIL ") and "1 room(s) have no topic" in lines[0]
    assert lines[1].startswith("  WARN ") and "1 topic(s) of rooms that are not in the database" in lines[1]
    assert lost.pk in text and "gone0000deadbeef" in text
    assert "kafka.ensure_room_topic" in text and "python manage.py replay ROOM" in text


def test_a_room_topic_keeping_events_for_less_than_the_setting_fails(healthy, settings):
    settings.KAFKA_ROOM_RETENTION_MS = 3_600_000
    short = Room.objects.create(name="short")
    kafka.ensure_room_topic(short.pk)
    # The first room's topic was made keeping events forever: longer than asked, a warning.
    settings.KAFKA_ROOM_RETENTION_MS = 86_400_000

    status, text = doctor()

    assert status == 1
    lines = [line for line in text.splitlines() if " room topics:" in line]
    assert lines[0].startswith("  FAIL ") and "retention.ms=3600000, not 86400000" in lines[0]
    assert lines[1].startswith("  WARN ") and "retention.ms=-1, not 86400000" in lines[1]
    assert kafka.room_topic(short.pk) in text and "--add-config retention.ms=86400000" in text


def test_a_missing_mongodb_index_fails_naming_it_and_what_creates_it(namespace):
    unique, _version_seq = repository.INDEXES[repository.MESSAGES]
    make_indexes(unique)

    status, text = doctor()

    assert status == 1
    line = line_about(text, f"{mongo.database_name()}.messages")
    assert line.startswith("  FAIL ") and "1 of its 2 indexes missing" in line
    assert "      (room asc, version_seq asc)" in text.splitlines()
    assert "python manage.py kafka_bridge" in text


def test_a_migration_not_applied_fails_with_the_command_to_apply_it(healthy):
    # Recorded as not applied inside the test's transaction, which is rolled back after.
    app, name = next(node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "chat")
    MigrationRecorder(connection).record_unapplied(app, name)

    status, text = doctor()

    assert status == 1
    assert line_about(text, "migrations").startswith("  FAIL migrations: 1 migration(s) not applied")
    assert f"{app}.{name}" in text and "python manage.py migrate" in text
