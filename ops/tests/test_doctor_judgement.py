"""The doctor's judgement on what the services answered, without the services."""

from __future__ import annotations

from echostream.core import kafka, mongo
from ops import doctor


def seen(*, rooms: list[str], topics: dict[str, int], configs: dict[str, dict[str, str]] | None = None):
    return doctor.TopicsSeen(partitions={kafka.inbound_topic(): 4, **topics}, room_ids=rooms, configs=configs or {})


def room_findings(findings: list[doctor.Finding]) -> list[doctor.Finding]:
    return [finding for finding in findings if finding.subject == "room topics"]


def test_rooms_each_with_a_topic_as_configured_pass(settings):
    settings.KAFKA_INBOUND_PARTITIONS = 4
    config = kafka.room_topic_config()
    findings = doctor.evaluate_topics(
        seen=seen(
            rooms=["a", "b"],
            topics={kafka.room_topic("a"): 1, kafka.room_topic("b"): 1},
            configs={kafka.room_topic("a"): config, kafka.room_topic("b"): config},
        )
    )
    assert [finding.status for finding in findings] == ["ok", "ok", "ok"]
    assert room_findings(findings)[0].figures == {"rooms": 2}


def test_a_missing_room_topic_fails_and_an_orphan_warns_each_listing_its_rooms():
    findings = room_findings(
        doctor.evaluate_topics(seen=seen(rooms=["a", "b"], topics={kafka.room_topic("a"): 1, kafka.room_topic("x"): 1}))
    )
    assert [(finding.status, finding.items) for finding in findings] == [("fail", ["b"]), ("warn", ["x"])]


def test_when_no_room_has_a_topic_the_orphans_ask_whether_database_and_namespace_belong_together():
    none, orphans = room_findings(doctor.evaluate_topics(seen=seen(rooms=[], topics={kafka.room_topic("x"): 1})))
    assert none.status == "ok" and none.message == "no room in the database yet"
    assert orphans.status == "warn" and "DATABASE_URL and ECHOSTREAM_NAMESPACE" in orphans.advice


def room_findings_with_b_as(config: dict[str, str], *, partitions_of_a: int = 1) -> list[doctor.Finding]:
    """The room topics' findings for room a (configured as made, in `partitions_of_a`) and room b
    (one partition, with `config`)."""
    return room_findings(
        doctor.evaluate_topics(
            seen=seen(
                rooms=["a", "b"],
                topics={kafka.room_topic("a"): partitions_of_a, kafka.room_topic("b"): 1},
                configs={kafka.room_topic("a"): kafka.room_topic_config(), kafka.room_topic("b"): config},
            )
        )
    )


def test_a_compacted_or_multi_partition_room_topic_fails():
    findings = room_findings_with_b_as({**kafka.room_topic_config(), "cleanup.policy": "compact"}, partitions_of_a=3)
    assert [(finding.status, finding.items) for finding in findings] == [
        ("fail", [kafka.room_topic("a")]),
        ("fail", [kafka.room_topic("b")]),
    ]
    assert "cleanup.policy=delete" in findings[1].advice


def test_a_room_topic_that_keeps_its_producers_times_warns():
    findings = room_findings_with_b_as({**kafka.room_topic_config(), "message.timestamp.type": "CreateTime"})
    assert [(finding.status, finding.items) for finding in findings] == [("warn", [kafka.room_topic("b")])]
    assert "message.timestamp.type=LogAppendTime" in findings[0].advice


def test_inbound_partitions_other_than_the_setting_fail_saying_which_setting_matches(settings):
    settings.KAFKA_INBOUND_PARTITIONS = 8
    (inbound, *_) = doctor.evaluate_topics(seen=seen(rooms=[], topics={}))
    assert inbound.status == "fail" and "has 4 partitions; KAFKA_INBOUND_PARTITIONS says 8" in inbound.message
    assert "KAFKA_INBOUND_PARTITIONS=4" in inbound.advice


def test_no_dead_letter_topic_is_fine_and_a_small_one_fails():
    findings = doctor.evaluate_topics(seen=seen(rooms=[], topics={}))
    assert findings[1].status == "ok" and "not created yet" in findings[1].message
    small = seen(
        rooms=[],
        topics={kafka.deadletter_topic(): 1},
        configs={kafka.deadletter_topic(): {"max.message.bytes": "1048588"}},
    )
    assert doctor.evaluate_topics(seen=small)[1].status == "fail"


def lag(lag: int, role: str = "moderation") -> kafka.GroupLag:
    return kafka.GroupLag(group=f"ns.{role}", role=role, lag=lag, partitions=4, uncommitted=0)


def members(count: int, role: str = "moderation") -> kafka.GroupMembers:
    return kafka.GroupMembers(group=f"ns.{role}", members=count, state="STABLE" if count else "EMPTY")


def test_a_group_over_the_lag_fails_saying_whether_its_role_is_down_or_slow():
    (down,) = doctor.evaluate_groups(lags=[lag(11)], members=[members(0)], max_lag=10)
    (slow,) = doctor.evaluate_groups(lags=[lag(11)], members=[members(2)], max_lag=10)
    assert down.status == slow.status == "fail"
    assert "role is down" in down.message and "moderation_worker" in down.advice
    assert "not keeping up" in slow.message and "up to 4" in slow.advice


def test_a_group_within_the_lag_passes_with_members_and_warns_without():
    (running,) = doctor.evaluate_groups(lags=[lag(10)], members=[members(1)], max_lag=10)
    (idle,) = doctor.evaluate_groups(lags=[lag(0)], members=[members(0)], max_lag=10)
    assert running.status == "ok" and running.figures["members"] == 1
    assert idle.status == "warn" and "no copy of the moderation role is running" in idle.message


def test_an_index_present_but_not_unique_fails():
    (unique,) = [index for index in doctor.expected_indexes()["messages"] if index.unique]
    found = [mongo.Index(keys=unique.keys), *[i for i in doctor.expected_indexes()["messages"] if not i.unique]]
    (finding,) = doctor.evaluate_indexes(expected=doctor.expected_indexes(), found={"messages": found})
    assert finding.status == "fail" and finding.message == "an index the code makes unique is not unique"
    assert finding.items == [unique.describe()]


def test_an_edit_that_reads_every_message_fails_with_the_restart_that_mends_it():
    slow = doctor.evaluate_edit_lookup(reads_every_message=True)
    indexed = doctor.evaluate_edit_lookup(reads_every_message=False)
    assert slow.status == "fail" and "scripts/services.sh restart mongodb" in slow.advice
    assert indexed.status == "ok"


def test_text_is_plain_off_a_terminal_and_marked_on_one():
    check = doctor.Check(
        name="x",
        title="X",
        findings=[
            doctor.Finding(status="fail", subject="s", message="m", advice="do", items=[str(n) for n in range(12)])
        ],
    )
    plain = doctor.format_check(check, terminal=False)
    assert plain.splitlines() == [
        "",
        "X",
        "  FAIL s: m",
        "      0, 1, 2, 3, 4, 5, 6, 7, 8, 9 (and 2 more; --json lists all)",
        "      -> do",
    ]
    marked = doctor.format_check(check, terminal=True)
    assert "✗" in marked and "→ do" in marked and "FAIL" not in marked
