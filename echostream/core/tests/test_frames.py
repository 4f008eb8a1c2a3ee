from echostream.core.frames import DeliveryLog


def test_an_event_is_new_until_it_is_recorded():
    log = DeliveryLog()
    assert log.is_new("r", 5)
    log.record("r", 5)
    assert not log.is_new("r", 5)
    assert log.is_new("r", 6)
    assert log.is_new("other", 5)


def test_settling_covers_everything_up_to_the_seq():
    log = DeliveryLog()
    log.record("r", 9)
    log.settle("r", 7)
    assert not log.is_new("r", 3)
    assert not log.is_new("r", 7)
    assert not log.is_new("r", 9)
    assert log.is_new("r", 8)


def test_settling_never_moves_back():
    log = DeliveryLog()
    log.settle("r", 10)
    log.settle("r", 4)
    assert not log.is_new("r", 6)


def test_the_log_stays_bounded_and_forgets_the_oldest():
    log = DeliveryLog()
    for seq in range(DeliveryLog.MAX_REMEMBERED + 1):
        log.record("r", seq)
    assert log.is_new("r", 0)
    assert not log.is_new("r", DeliveryLog.MAX_REMEMBERED)
