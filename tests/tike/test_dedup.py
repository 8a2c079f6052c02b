from tike.dedup import SeenNeeds


def test_ids_are_per_partition_and_expire_oldest_first() -> None:
    seen = SeenNeeds(retention_s=100)
    seen.add(0, "a", 10)
    seen.add(0, "b", 50)
    seen.add(1, "c", 10)
    assert (0, "a") in seen and (1, "a") not in seen
    assert seen.expire(0, now=120) == 1
    assert (0, "a") not in seen and (0, "b") in seen
    assert seen.expire(0, now=151) == 1
    assert seen.expire(1, now=200) == 1
    assert len(seen) == 0


def test_load_replaces_a_partition_and_keeps_first_seen_time() -> None:
    seen = SeenNeeds(retention_s=10)
    assert not seen.loaded(3)
    seen.load(3, [("x", 5.0), ("y", 1.0), ("x", 9.0)])
    assert seen.loaded(3) and len(seen) == 2
    assert seen.expire(3, now=14) == 1  # y (1.0) is older than 4.0; x (5.0) is not
    assert (3, "x") in seen


def test_forget_after_rebalance() -> None:
    seen = SeenNeeds(retention_s=10)
    seen.add(0, "a", 1)
    seen.add(1, "b", 1)
    seen.forget([0])
    assert not seen.loaded(0) and seen.loaded(1)
    seen.forget()
    assert len(seen) == 0 and not seen.loaded(1)
