from tike.dedup import ExpiryIndex


def test_expired_keys_are_returned_oldest_first_per_partition() -> None:
    index = ExpiryIndex(retention_s=100)
    index.note(0, "a", 10)
    index.note(0, "b", 50)
    index.note(1, "c", 10)
    assert index.expired(0, now=120) == ["a"]
    assert index.expired(0, now=120) == []
    assert index.expired(0, now=151) == ["b"]
    assert index.expired(1, now=200) == ["c"]
    assert len(index) == 0


def test_load_rebuilds_a_partition_after_restart() -> None:
    index = ExpiryIndex(retention_s=10)
    assert not index.known(3)
    index.load(3, [("x", 5.0), ("y", 1.0)])
    assert index.known(3)
    assert index.expired(3, now=20) == ["y", "x"]
