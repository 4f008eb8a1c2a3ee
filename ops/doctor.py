"""`manage.py doctor`: whether the outside systems answer and are set up as the code expects (Kafka
topics and their configs, consumer groups keeping up, MongoDB indexes, migrations applied), each
problem said with what to do about it.

Each check gathers what it needs from its service and hands it to a pure `evaluate_*` function, so
that the judgement is tested without breaking a service. A check whose service does not answer is
reported as skipped, never attempted: the probe's failure already says what is wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal, Protocol, TypeVar

import msgspec
from django.conf import settings
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.utils import termcolors

from chat import repository
from chat.models import Room
from echostream.core import kafka, mongo
from echostream.redaction import redacted, url_for_people
from ops.probes import ProbeResult, probe_all

Status = Literal["ok", "warn", "fail", "skip"]

# A group further behind than this, in records, fails the check (`--max-lag`).
DEFAULT_MAX_LAG = 1000
# The text output names this many of a finding's items; `--json` lists them all.
SHOWN_ITEMS = 10

T = TypeVar("T")


class Progress(Protocol):
    def __call__(self, items: Iterable[T], /, *, total: int, desc: str) -> Iterable[T]: ...


def no_progress(items: Iterable[T], /, *, total: int, desc: str) -> Iterable[T]:
    return items


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    status: Status
    # What it is about: a service, a topic, a consumer group, a collection, the migrations.
    subject: str
    message: str
    # What to do about it; empty when nothing needs doing.
    advice: str = ""
    # Everything the finding is about (rooms, topics, migrations), all of them.
    items: list[str] = []
    # Figures a script may want (lag, members, partitions).
    figures: dict[str, int] = {}
    # The whole error, when the message shortens it.
    detail: str = ""


class Check(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    title: str
    findings: list[Finding]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    namespace: str
    # False when any finding failed (the command then exits 1); warnings leave it True.
    ok: bool
    failures: int
    warnings: int
    skipped: int
    checks: list[Check]


def report_of(*, checks: list[Check]) -> Report:
    statuses = [finding.status for check in checks for finding in check.findings]
    return Report(
        namespace=settings.ECHOSTREAM_NAMESPACE,
        ok="fail" not in statuses,
        failures=statuses.count("fail"),
        warnings=statuses.count("warn"),
        skipped=statuses.count("skip"),
        checks=checks,
    )


# --- 1. Services ------------------------------------------------------------------------------

SERVICE_LABELS = {"kafka": "Kafka", "redis": "Redis", "mongodb": "MongoDB", "postgres": "the database"}


def database_address() -> str:
    database = settings.DATABASES["default"]
    vendor = connections["default"].vendor
    if vendor == "sqlite":
        return f"the SQLite file {database['NAME']}"
    return f"{vendor} {database.get('HOST') or 'localhost'}:{database.get('PORT') or 'default port'}/{database['NAME']}"


def service_address(service: str) -> str:
    if service == "kafka":
        return settings.KAFKA_BOOTSTRAP_SERVERS
    if service == "redis":
        return url_for_people(settings.REDIS_URL)
    if service == "mongodb":
        return url_for_people(settings.MONGODB_URI)
    return database_address()


def service_advice(service: str) -> str:
    if service in ("kafka", "redis", "mongodb"):
        setting = {"kafka": "KAFKA_BOOTSTRAP_SERVERS", "redis": "REDIS_URL", "mongodb": "MONGODB_URI"}[service]
        return (
            f"start it with `make services` (scripts/services.sh up {service}), "
            f"or set {setting} to where it runs; `scripts/services.sh status` says what runs"
        )
    if connections["default"].vendor == "sqlite":
        return "check that the SQLite file's directory exists and is writable, or set DATABASE_URL"
    return (
        "start it with `make services` (scripts/services.sh up postgres, the project's own cluster), "
        "or set DATABASE_URL to where it runs (and check its user and password)"
    )


# Errors longer than this (PyMongo's list the whole topology) are cut in the text; --json has them whole.
ERROR_CHARS = 200


def shortened(error: str) -> str:
    return error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 1] + "…"


def evaluate_services(*, probes: list[ProbeResult]) -> list[Finding]:
    findings = []
    for result in probes:
        label, address = SERVICE_LABELS.get(result.service, result.service), service_address(result.service)
        if result.ok:
            findings.append(Finding(status="ok", subject=result.service, message=f"answers at {address}"))
        else:
            error = redacted(result.error)
            findings.append(
                Finding(
                    status="fail",
                    subject=result.service,
                    message=f"{label[:1].upper()}{label[1:]} does not answer at {address}: {shortened(error)}",
                    advice=service_advice(result.service),
                    detail=error,
                )
            )
    return findings


# --- 2. Kafka topics --------------------------------------------------------------------------


class TopicsSeen(msgspec.Struct, frozen=True, kw_only=True):
    """What Kafka and the database say about this namespace's topics."""

    # Every topic of the namespace and its number of partitions.
    partitions: dict[str, int]
    # The rooms in the database; None when they could not be listed (`rooms_error` says why).
    room_ids: list[str] | None
    rooms_error: str = ""
    # The configs that matter of the dead-letter topic and of each room's topic that exists.
    configs: dict[str, dict[str, str]] = {}


def gather_topics(*, database_up: bool, progress: Progress = no_progress) -> TopicsSeen:
    partitions = kafka.topic_partition_counts()
    room_ids: list[str] | None = None
    rooms_error = "the database does not answer (above)"
    if database_up:
        try:
            room_ids = list(Room.objects.order_by("id").values_list("id", flat=True))
        except DatabaseError as exc:
            rooms_error = f"could not list the rooms ({type(exc).__name__}: {exc}); see the migrations check"
    described = [kafka.room_topic(room_id) for room_id in room_ids or [] if kafka.room_topic(room_id) in partitions]
    if kafka.deadletter_topic() in partitions:
        described.append(kafka.deadletter_topic())
    keys = {*kafka.room_topic_config(), *kafka.deadletter_topic_config()}
    configs = dict(progress(kafka.topic_configs(described, keys=keys), total=len(described), desc="topic configs"))
    return TopicsSeen(partitions=partitions, room_ids=room_ids, rooms_error=rooms_error, configs=configs)


def _retention_at_least(actual: str, wanted: str) -> bool:
    """Whether a topic with retention.ms `actual` keeps events at least as long as `wanted` asks
    (-1 is forever)."""
    if int(actual) < 0:
        return True
    return int(wanted) >= 0 and int(actual) >= int(wanted)


def _set_config_advice(name: str, value: str) -> str:
    return (
        f"Kafka keeps the config a topic was created with (a topic it auto-created at a first message has "
        f"the broker's defaults); set it with Kafka's tools on each topic listed: `kafka-configs.sh "
        f"--bootstrap-server {settings.KAFKA_BOOTSTRAP_SERVERS} --alter --entity-type topics --entity-name "
        f"<topic> --add-config {name}={value}`"
    )


def _inbound_findings(seen: TopicsSeen) -> list[Finding]:
    topic, wanted = kafka.inbound_topic(), settings.KAFKA_INBOUND_PARTITIONS
    found = seen.partitions.get(topic)
    if found is None:
        return [
            Finding(
                status="fail",
                subject=topic,
                message="does not exist: the moderation worker never started in this namespace (or Kafka lost it)",
                advice=(
                    "start the moderation worker (`make run`, or `python manage.py moderation_worker`): it creates "
                    "the topic (so does the web role at the first message sent), and without it no submitted "
                    "message reaches a room"
                ),
            )
        ]
    figures = {"partitions": found, "wanted": wanted}
    if found == wanted:
        return [
            Finding(
                status="ok",
                subject=topic,
                message=f"{found} partitions, as KAFKA_INBOUND_PARTITIONS says",
                figures=figures,
            )
        ]
    if found > wanted:
        advice = f"Kafka cannot take partitions away: set KAFKA_INBOUND_PARTITIONS={found}"
    else:
        advice = (
            f"set KAFKA_INBOUND_PARTITIONS={found}, or add partitions with Kafka's tools (`kafka-topics.sh "
            f"--bootstrap-server {settings.KAFKA_BOOTSTRAP_SERVERS} --alter --topic {topic} --partitions {wanted}`) "
            "while nothing is in flight (web stopped, moderation's "
            "lag 0): rooms then map to other partitions, and a room's pending submissions could overtake each other"
        )
    return [
        Finding(
            status="fail",
            subject=topic,
            message=f"has {found} partitions; KAFKA_INBOUND_PARTITIONS says {wanted}",
            advice=advice,
            figures=figures,
        )
    ]


def _deadletter_findings(seen: TopicsSeen) -> list[Finding]:
    topic = kafka.deadletter_topic()
    if topic not in seen.partitions:
        return [
            Finding(
                status="ok",
                subject=topic,
                message="not created yet: nothing was dead-lettered in this namespace (the first dead letter makes it)",
            )
        ]
    wanted = kafka.deadletter_topic_config()["max.message.bytes"]
    actual = seen.configs.get(topic, {}).get("max.message.bytes", "")
    if actual and int(actual) < int(wanted):
        return [
            Finding(
                status="fail",
                subject=topic,
                message=f"max.message.bytes is {actual}, below the {wanted} a dead letter may need: a large "
                "record's letter would be refused and its consumer would retry it forever",
                advice=_set_config_advice("max.message.bytes", wanted),
            )
        ]
    return [Finding(status="ok", subject=topic, message=f"exists, max.message.bytes={actual or 'unknown'}")]


def _room_findings(seen: TopicsSeen) -> list[Finding]:
    if seen.room_ids is None:
        return [Finding(status="skip", subject="room topics", message=f"not checked: {seen.rooms_error}")]
    wanted = kafka.room_topic_config()
    rooms = set(seen.room_ids)
    prefix = kafka.room_topic("")
    topics_of_rooms = {kafka.room_id_from_topic(name) for name in seen.partitions if name.startswith(prefix)}
    findings = []

    missing = sorted(rooms - topics_of_rooms)
    if missing:
        findings.append(
            Finding(
                status="fail",
                subject="room topics",
                message=f"{len(missing)} room(s) have no topic: their messages cannot be published as configured",
                advice=(
                    "a room's topic is made when the room is created in the app; a room added in the Django admin "
                    "gets none (Kafka may then auto-create it at its first message, with the broker's defaults), "
                    "and a deleted topic is not made again. Create the missing ones (idempotent): `python manage.py "
                    'shell -c "from chat.models import Room; from echostream.core import kafka; '
                    "[kafka.ensure_room_topic(r) for r in Room.objects.values_list('id', flat=True)]\"`. A room "
                    "whose topic was deleted starts again at seq 0: mend its history with `python manage.py "
                    "rebuild_projection --room ROOM --drop` (docs/replay.md)"
                ),
                items=missing,
            )
        )

    present = sorted(rooms & topics_of_rooms)
    # Listed by topic (not room) where the fix is done to the topic.
    not_single = [kafka.room_topic(room) for room in present if seen.partitions[kafka.room_topic(room)] != 1]
    if not_single:
        findings.append(
            Finding(
                status="fail",
                subject="room topics",
                message=f"{len(not_single)} room topic(s) have more than one partition: a room's seq is its "
                "offset in one partition, so their messages have no single order",
                advice=(
                    "the broker made them (auto-created with num.partitions > 1); keep a copy of each room's events "
                    "(`python manage.py replay ROOM --format jsonl`), delete the topic and create it again with "
                    "kafka.ensure_room_topic, and set auto.create.topics.enable=false on the broker"
                ),
                items=not_single,
            )
        )

    by_retention: dict[str, list[str]] = {}
    wrong_policy, producer_timed = [], []
    for room in present:
        config = seen.configs.get(kafka.room_topic(room), {})
        retention = config.get("retention.ms", wanted["retention.ms"])
        if retention != wanted["retention.ms"]:
            by_retention.setdefault(retention, []).append(kafka.room_topic(room))
        if config.get("cleanup.policy", "delete") != wanted["cleanup.policy"]:
            wrong_policy.append(kafka.room_topic(room))
        if config.get("message.timestamp.type", wanted["message.timestamp.type"]) != wanted["message.timestamp.type"]:
            producer_timed.append(kafka.room_topic(room))
    # The failures (events dropped sooner than asked) first.
    for retention, rooms_with_it in sorted(
        by_retention.items(), key=lambda item: (_retention_at_least(item[0], wanted["retention.ms"]), int(item[0]))
    ):
        shorter = not _retention_at_least(retention, wanted["retention.ms"])
        findings.append(
            Finding(
                status="fail" if shorter else "warn",
                subject="room topics",
                message=(
                    f"{len(rooms_with_it)} room topic(s) have retention.ms={retention}, not {wanted['retention.ms']} "
                    "(KAFKA_ROOM_RETENTION_MS): "
                    + ("they drop events sooner, so replay reaches less far" if shorter else "they keep events longer")
                ),
                advice=_set_config_advice("retention.ms", wanted["retention.ms"])
                + "; or, if KAFKA_ROOM_RETENTION_MS changed on purpose, know that only new rooms get it",
                items=rooms_with_it,
            )
        )
    if wrong_policy:
        findings.append(
            Finding(
                status="fail",
                subject="room topics",
                message=f"{len(wrong_policy)} room topic(s) are not cleanup.policy=delete: compaction keeps only "
                "the last record of each key, so a room's history loses messages",
                advice=_set_config_advice("cleanup.policy", "delete"),
                items=wrong_policy,
            )
        )
    if producer_timed:
        findings.append(
            Finding(
                status="warn",
                subject="room topics",
                message=f"{len(producer_timed)} room topic(s) keep their producers' times, not the broker's "
                "(message.timestamp.type=LogAppendTime): how late the bridge runs is then measured from a time a "
                "record's writer chose (backpressure)",
                advice=_set_config_advice("message.timestamp.type", "LogAppendTime")
                + "; or set log.message.timestamp.type=LogAppendTime on the broker for every topic that does not say",
                items=producer_timed,
            )
        )
    if not findings:
        message = (
            f"{len(present)} room(s), each with its topic: 1 partition, "
            f"retention.ms={wanted['retention.ms']}, cleanup.policy={wanted['cleanup.policy']}"
            if present
            else "no room in the database yet"
        )
        findings.append(Finding(status="ok", subject="room topics", message=message, figures={"rooms": len(present)}))

    orphans = sorted(topics_of_rooms - rooms)
    if orphans:
        advice = (
            "a room deleted in the Django admin, or whose creation failed halfway, leaves its topic; its events "
            "stay readable with `python manage.py replay ROOM`. Delete a topic once nothing needs them: "
            "`python manage.py shell -c \"from echostream.core import kafka; kafka.delete_room_topic('ROOM')\"`"
        )
        if not present:
            advice += (
                ". No room of the database has a topic here: are DATABASE_URL and ECHOSTREAM_NAMESPACE "
                "of the same deployment?"
            )
        findings.append(
            Finding(
                status="warn",
                subject="room topics",
                message=f"{len(orphans)} topic(s) of rooms that are not in the database",
                advice=advice,
                items=orphans,
            )
        )
    return findings


def evaluate_topics(*, seen: TopicsSeen) -> list[Finding]:
    return [*_inbound_findings(seen), *_deadletter_findings(seen), *_room_findings(seen)]


# --- 3. Consumer groups -----------------------------------------------------------------------

ROLE_COMMANDS = {
    "moderation": "python manage.py moderation_worker",
    "bridge": "python manage.py kafka_bridge",
    "bridge-store": "python manage.py kafka_bridge",
}


def evaluate_groups(*, lags: list[kafka.GroupLag], members: list[kafka.GroupMembers], max_lag: int) -> list[Finding]:
    running = {group.group: group for group in members}
    findings = []
    for group in lags:
        seen = running.get(group.group)
        count = seen.members if seen is not None else 0
        state = seen.state.lower() if seen is not None else "unknown"
        command = ROLE_COMMANDS.get(group.role, "make run")
        figures = {"lag": group.lag, "partitions": group.partitions, "members": count, "uncommitted": group.uncommitted}
        message = (
            f"lag {group.lag} records over {group.partitions} partition(s); "
            f"{count} {group.role} consumer(s) running (group {state})"
        )
        start = f"start it: `make run` starts every role, or run `{command}`; it goes on from the group's offsets"
        if group.lag > max_lag and count == 0:
            status: Status = "fail"
            message += f"; over --max-lag {max_lag} with no consumer: the {group.role} role is down"
            advice = start
        elif group.lag > max_lag:
            status = "fail"
            message += f"; over --max-lag {max_lag}: the {group.role} role is not keeping up"
            advice = (
                f"read the logs of the {count} running cop(ies) (a store that is down makes them wait: "
                f"docs/operations.md, Troubleshooting), and run more copies of `{command}` "
                f"(up to {group.partitions}, one per partition)"
            )
        elif count == 0:
            status = "warn"
            message += f"; no copy of the {group.role} role is running" + (
                f": {group.lag} records wait for it" if group.lag else ""
            )
            advice = start
        else:
            status, advice = "ok", ""
        findings.append(Finding(status=status, subject=group.group, message=message, advice=advice, figures=figures))
    return findings


# --- 4. MongoDB indexes -----------------------------------------------------------------------


def expected_indexes() -> dict[str, list[mongo.Index]]:
    """The indexes the code creates, by collection (chat.repository.ensure_indexes)."""
    return repository.INDEXES


def gather_indexes(*, timeout: float) -> dict[str, list[mongo.Index]]:
    return {name: mongo.list_indexes(name, timeout=timeout) for name in expected_indexes()}


def evaluate_indexes(*, expected: dict[str, list[mongo.Index]], found: dict[str, list[mongo.Index]]) -> list[Finding]:
    create = (
        "the bridge creates them when it starts (`make run`, or `python manage.py kafka_bridge`), "
        "and so does `python manage.py rebuild_projection`"
    )
    findings = []
    for name, indexes in expected.items():
        subject = f"{mongo.database_name()}.{name}"
        by_keys = {index.keys: index for index in found.get(name, [])}
        missing = [index for index in indexes if index.keys not in by_keys]
        not_unique = [
            index for index in indexes if index.unique and index.keys in by_keys and not by_keys[index.keys].unique
        ]
        if missing:
            findings.append(
                Finding(
                    status="fail",
                    subject=subject,
                    message=f"{len(missing)} of its {len(indexes)} indexes missing",
                    advice=create,
                    items=[index.describe() for index in missing],
                )
            )
        if not_unique:
            findings.append(
                Finding(
                    status="fail",
                    subject=subject,
                    message="an index the code makes unique is not unique",
                    advice="drop it (in mongosh: `db.<collection>.dropIndex(<its name>)`); then " + create,
                    items=[index.describe() for index in not_unique],
                )
            )
        if not missing and not not_unique:
            message = f"its {len(indexes)} indexes exist as the code makes them"
            findings.append(Finding(status="ok", subject=subject, message=message))
    return findings


def gather_edit_lookup(*, timeout: float) -> bool:
    """Whether MongoDB would read every stored message to find the version an edit replaces."""
    probe = repository.older_than({"_id": "doctor-probe", "version_seq": 1})
    return mongo.reads_every_document(repository.MESSAGES, probe, timeout=timeout)


def evaluate_edit_lookup(*, reads_every_message: bool) -> Finding:
    subject = f"{mongo.database_name()}.{repository.MESSAGES}, edits stored"
    if reads_every_message:
        return Finding(
            status="fail",
            subject=subject,
            message="each reads every message, not the `_id` index: a FerretDB built without this "
            "checkout's patches (scripts/services.sh), so each takes longer as history grows",
            advice="`scripts/services.sh restart mongodb` builds the patched FerretDB and starts it",
        )
    return Finding(status="ok", subject=subject, message="each looks its message up in the `_id` index")


def _index_findings(*, timeout: float) -> list[Finding]:
    found = gather_indexes(timeout=timeout)
    findings = evaluate_indexes(expected=expected_indexes(), found=found)
    if found.get(repository.MESSAGES):
        # Only a collection that exists has a plan to judge (the indexes' findings cover the rest).
        findings.append(evaluate_edit_lookup(reads_every_message=gather_edit_lookup(timeout=timeout)))
    return findings


# --- 5. Migrations ----------------------------------------------------------------------------


class MigrationState(msgspec.Struct, frozen=True, kw_only=True):
    # "app.name" of each migration not applied yet, in the order `migrate` would apply them.
    pending: list[str]
    # Apps with two leaf migrations (branches to merge), and those leaves.
    conflicts: dict[str, list[str]]
    # Applied in the database but unknown to this code (a rollback to an older release?).
    unknown: list[str]


def gather_migrations(*, connection: BaseDatabaseWrapper) -> MigrationState:
    """What `migrate --check` looks at: the plan to the newest migration of every app."""
    executor = MigrationExecutor(connection)
    loader = executor.loader
    plan = executor.migration_plan(loader.graph.leaf_nodes())
    replaced = {key for migration in loader.replacements.values() for key in migration.replaces}
    unknown = [
        f"{app}.{name}"
        for app, name in sorted(loader.applied_migrations)
        if app in loader.migrated_apps and (app, name) not in loader.graph.nodes and (app, name) not in replaced
    ]
    return MigrationState(
        pending=[f"{migration.app_label}.{migration.name}" for migration, _backwards in plan],
        conflicts={app: sorted(names) for app, names in loader.detect_conflicts().items()},
        unknown=unknown,
    )


def evaluate_migrations(*, state: MigrationState) -> list[Finding]:
    findings = []
    if state.conflicts:
        findings.append(
            Finding(
                status="fail",
                subject="migrations",
                message="conflicting migrations (two newest in one app): "
                + "; ".join(f"{app}: {', '.join(names)}" for app, names in state.conflicts.items()),
                advice="merge them with `python manage.py makemigrations --merge`, then `python manage.py migrate`",
            )
        )
    if state.pending:
        findings.append(
            Finding(
                status="fail",
                subject="migrations",
                message=f"{len(state.pending)} migration(s) not applied",
                advice="run `python manage.py migrate` (`make migrate`); until then the roles may meet tables "
                "or columns that are not there",
                items=state.pending,
            )
        )
    if state.unknown:
        findings.append(
            Finding(
                status="warn",
                subject="migrations",
                message=f"{len(state.unknown)} migration(s) applied in the database but unknown to this code",
                advice="is this code older than the database (a rollback)? Deploy the release that made them, "
                "or migrate back with it before rolling back",
                items=state.unknown,
            )
        )
    if not findings:
        findings.append(Finding(status="ok", subject="migrations", message="every migration is applied"))
    return findings


# --- All of it --------------------------------------------------------------------------------


def _checked(*, name: str, title: str, needs: list[str], up: set[str], run: Callable[[], list[Finding]]) -> Check:
    """The check's findings; skipped when a service it needs does not answer, and a failure (not
    a crash) when asking the service raised."""
    down = [SERVICE_LABELS[service] for service in needs if service not in up]
    if down:
        message = f"not checked: {' and '.join(down)} does not answer (above)"
        return Check(name=name, title=title, findings=[Finding(status="skip", subject=name, message=message)])
    try:
        findings = run()
    except Exception as exc:
        findings = [
            Finding(
                status="fail",
                subject=name,
                message=f"could not be checked: {shortened(f'{type(exc).__name__}: {exc}')}",
                advice="the service answered the probe but not this question: run the doctor again, "
                "and read the service's log if it goes on",
                detail=f"{type(exc).__name__}: {exc}",
            )
        ]
    return Check(name=name, title=title, findings=findings)


def diagnose(*, timeout: float, max_lag: int = DEFAULT_MAX_LAG, progress: Progress = no_progress) -> Iterator[Check]:
    """Each check in turn, as soon as it is done."""
    probes = probe_all(timeout=timeout)
    yield Check(name="services", title="Services", findings=evaluate_services(probes=probes))
    up = {result.service for result in probes if result.ok}
    yield _checked(
        name="topics",
        title="Kafka topics",
        needs=["kafka"],
        up=up,
        run=lambda: evaluate_topics(seen=gather_topics(database_up="postgres" in up, progress=progress)),
    )
    yield _checked(
        name="consumer_groups",
        title="Consumer groups",
        needs=["kafka"],
        up=up,
        run=lambda: evaluate_groups(
            lags=kafka.consumer_group_lags(), members=kafka.consumer_group_members(), max_lag=max_lag
        ),
    )
    yield _checked(
        name="mongodb_indexes",
        title="MongoDB indexes",
        needs=["mongodb"],
        up=up,
        # Not the probe's timeout: listing indexes on a busy FerretDB may take longer than a ping.
        run=lambda: _index_findings(timeout=max(timeout, 5)),
    )
    yield _checked(
        name="migrations",
        title="Migrations",
        needs=["postgres"],
        up=up,
        run=lambda: evaluate_migrations(state=gather_migrations(connection=connections["default"])),
    )


# --- Text -------------------------------------------------------------------------------------

_MARKS = {
    # (on a terminal, in plain text)
    "ok": ("✓", "OK  ", "green"),
    "warn": ("!", "WARN", "yellow"),
    "fail": ("✗", "FAIL", "red"),
    "skip": ("-", "SKIP", "cyan"),
}


def format_check(check: Check, *, terminal: bool) -> str:
    """The check's lines: a mark, the subject and what was found; under a problem, what to do and
    the first of its items. `terminal` uses ✓/✗ and colours; otherwise OK/FAIL, plain."""
    lines = ["", check.title]
    for finding in check.findings:
        symbol, word, colour = _MARKS[finding.status]
        mark = termcolors.colorize(symbol, fg=colour, opts=("bold",)) if terminal else word
        lines.append(f"  {mark} {finding.subject}: {finding.message}")
        if finding.items and finding.status in ("fail", "warn"):
            more = len(finding.items) - SHOWN_ITEMS
            shown = ", ".join(finding.items[:SHOWN_ITEMS])
            lines.append(f"      {shown}" + (f" (and {more} more; --json lists all)" if more > 0 else ""))
        if finding.advice:
            lines.append(f"      {'→' if terminal else '->'} {finding.advice}")
    return "\n".join(lines)


def format_summary(report: Report) -> str:
    counts = f"{report.failures} failed, {report.warnings} warning(s), {report.skipped} skipped"
    verdict = "all is well" if report.ok and not report.warnings else "no failure" if report.ok else "problems found"
    return f"\n{verdict}: {counts} (namespace {report.namespace})"
