import pytest

from streams.fetch_wait import FetchWait


def test_an_idle_consumer_waits_long_and_turns_hot_on_the_first_records() -> None:
    w = FetchWait(hot_ms=5, idle_ms=200, hot_for_s=2.0)
    assert w.wait(now=100.0) == 200  # never saw a record
    assert w.after_fetch(False, now=100.0) == 200
    assert w.after_fetch(True, now=101.0) == 5  # the burst's next hops are fetched fast
    assert w.after_fetch(False, now=102.5) == 5  # still within hot_for_s of the last record
    assert w.after_fetch(False, now=103.1) == 200  # idle again


def test_records_keep_it_hot() -> None:
    w = FetchWait(hot_ms=5, idle_ms=200, hot_for_s=1.0)
    for t in range(10):
        assert w.after_fetch(True, now=float(t)) == 5


def test_a_hot_wait_longer_than_the_idle_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="hot_ms"):
        FetchWait(hot_ms=300, idle_ms=100)
