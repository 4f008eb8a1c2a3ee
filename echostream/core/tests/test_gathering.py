"""`kafka.Gathering`: when a consumer's batch waits for more records (pure logic, no Kafka)."""

from echostream.core import kafka


def _gathering() -> kafka.Gathering:
    return kafka.Gathering(busy_rate=200, linger=0.01, window=1.0, now=0.0)


def test_a_new_consumer_takes_its_batches_at_once() -> None:
    assert _gathering().next_linger() == 0.0


def test_records_coming_slower_than_the_busy_rate_are_not_gathered() -> None:
    gathering = _gathering()
    for tenth in range(1, 21):
        gathering.took(10, now=tenth / 10)  # 100 a second
    assert gathering.next_linger() == 0.0


def test_records_coming_faster_than_the_busy_rate_are_gathered() -> None:
    gathering = _gathering()
    for tenth in range(1, 11):
        gathering.took(30, now=tenth / 10)  # 300 a second
    assert gathering.next_linger() == 0.01


def test_the_rate_is_judged_only_once_a_window_has_passed() -> None:
    gathering = _gathering()
    gathering.took(500, now=0.5)
    assert gathering.next_linger() == 0.0
    gathering.took(1, now=1.0)
    assert gathering.next_linger() == 0.01


def test_gathering_stops_after_a_window_below_the_busy_rate() -> None:
    gathering = _gathering()
    gathering.took(300, now=1.0)
    gathering.took(50, now=2.0)
    assert gathering.next_linger() == 0.0


def test_a_lull_after_a_busy_window_ends_the_gathering_at_the_next_batch() -> None:
    gathering = _gathering()
    gathering.took(300, now=1.0)
    gathering.took(1, now=30.0)  # one record after half a minute of quiet
    assert gathering.next_linger() == 0.0
