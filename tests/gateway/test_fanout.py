"""A client's outbox (gateway/fanout.py Outbox): coalescing, bounds, snapshots and floors."""

from __future__ import annotations

from typing import Any

from gateway.fanout import Outbox


def _key(item: dict[str, Any]) -> str:
    return str(item["k"])


def _item(key: str, v: int = 0) -> dict[str, Any]:
    return {"k": key, "v": v}


def test_new_outbox_is_empty() -> None:
    box = Outbox(_key, limit=10)
    assert not box.wake.is_set()
    assert not box.needs_snapshot
    assert (box.overflowed, box.floor) == (0, 0)
    assert box.take() == (0, [])


def test_put_keeps_newest_per_key_in_latest_insertion_order() -> None:
    box = Outbox(_key, limit=10)
    box.put(1, _item("a", 1))
    box.put(2, _item("b", 2))
    box.put(3, _item("a", 3))  # replaces a's first change and moves it behind b
    box.put(4, _item("c", 4))
    seq, items = box.take()
    assert seq == 4
    assert items == [_item("b", 2), _item("a", 3), _item("c", 4)]


def test_take_returns_seq_of_last_insertion() -> None:
    box = Outbox(_key, limit=10)
    box.put(5, _item("a"))
    box.put(6, _item("b"))
    box.put(7, _item("a", 7))
    seq, items = box.take()
    assert seq == 7
    assert [i["k"] for i in items] == ["b", "a"]


def test_take_clears_pending_and_wake() -> None:
    box = Outbox(_key, limit=10)
    box.put(1, _item("a"))
    assert box.wake.is_set()
    assert box.take() == (1, [_item("a")])
    assert not box.wake.is_set()
    assert box.pending == {}
    assert box.take() == (0, [])
    box.put(2, _item("a", 2))  # a later change of the same key is delivered again
    assert box.wake.is_set()
    assert box.take() == (2, [_item("a", 2)])


def test_limit_distinct_keys_fit() -> None:
    box = Outbox(_key, limit=3)
    for seq, key in enumerate("abc", start=1):
        box.put(seq, _item(key))
    for seq, key in enumerate("abcabc", start=4):  # repeats do not count against the limit
        box.put(seq, _item(key, seq))
    assert not box.needs_snapshot and box.overflowed == 0
    seq, items = box.take()
    assert seq == 9
    assert items == [_item("a", 7), _item("b", 8), _item("c", 9)]


def test_overflow_asks_for_snapshot_and_ignores_puts_until_begin_snapshot() -> None:
    box = Outbox(_key, limit=3)
    for seq, key in enumerate("abcd", start=1):
        box.put(seq, _item(key))
    assert box.needs_snapshot
    assert box.overflowed == 1
    assert box.pending == {}
    assert box.wake.is_set()  # the sender wakes up to send a snapshot

    box.put(5, _item("e"))
    box.put(6, _item("a", 6))
    assert box.pending == {}
    assert box.take() == (0, [])
    assert box.overflowed == 1  # ignored puts do not overflow again

    box.begin_snapshot()
    assert not box.needs_snapshot
    box.put(7, _item("a", 7))
    assert box.take() == (7, [_item("a", 7)])


def test_overflow_counter_counts_each_overflow() -> None:
    box = Outbox(_key, limit=2)
    seq = 0
    for _ in range(3):
        box.begin_snapshot()
        for key in "xyz":
            seq += 1
            box.put(seq, _item(key))
        assert box.needs_snapshot
    assert box.overflowed == 3


def test_drop_through_drops_pending_up_to_seq() -> None:
    box = Outbox(_key, limit=10)
    box.put(1, _item("a"))
    box.put(2, _item("b"))
    box.put(3, _item("c"))
    box.put(4, _item("a", 4))
    box.drop_through(3)
    assert box.floor == 3
    assert box.take() == (4, [_item("a", 4)])


def test_drop_through_sets_a_floor_for_later_puts() -> None:
    box = Outbox(_key, limit=10)
    box.drop_through(10)
    box.put(9, _item("a"))
    box.put(10, _item("b"))  # the floor itself is held by the snapshot too
    assert box.pending == {}
    assert not box.wake.is_set()
    box.put(11, _item("c"))
    assert box.wake.is_set()
    assert box.take() == (11, [_item("c")])


def test_drop_through_ignored_puts_do_not_replace_newer_pending() -> None:
    box = Outbox(_key, limit=10)
    box.put(6, _item("a", 6))
    box.drop_through(5)
    box.put(4, _item("a", 4))  # stale: below the floor
    assert box.take() == (6, [_item("a", 6)])


def test_ignored_puts_below_floor_do_not_count_toward_overflow() -> None:
    box = Outbox(_key, limit=1)
    box.drop_through(100)
    for seq, key in enumerate("abcdef", start=1):
        box.put(seq, _item(key))
    assert not box.needs_snapshot and box.overflowed == 0


def test_reset_asks_for_snapshot_and_clears_floor() -> None:
    box = Outbox(_key, limit=10)
    box.drop_through(50)
    box.put(51, _item("a"))
    box.take()
    assert not box.wake.is_set()

    box.reset()
    assert box.needs_snapshot
    assert box.floor == 0
    assert box.pending == {}
    assert box.wake.is_set()
    assert box.overflowed == 0  # a reset is not an overflow

    box.put(52, _item("b"))  # still ignored: waiting for the snapshot
    assert box.pending == {}

    box.begin_snapshot()
    box.put(3, _item("c"))  # after a reset the stream starts over: low seqs are accepted
    assert box.take() == (3, [_item("c")])


def test_reset_drops_pending_changes() -> None:
    box = Outbox(_key, limit=10)
    box.put(1, _item("a"))
    box.put(2, _item("b"))
    box.reset()
    box.begin_snapshot()
    assert box.take() == (0, [])


def test_snapshot_cycle_after_overflow() -> None:
    """The sender's sequence: overflow, begin_snapshot, read snapshot at seq, drop_through."""
    box = Outbox(_key, limit=2)
    for seq, key in enumerate("abc", start=1):
        box.put(seq, _item(key))
    assert box.needs_snapshot
    box.begin_snapshot()
    box.put(4, _item("a", 4))  # arrives while the snapshot is read...
    box.put(5, _item("b", 5))
    box.drop_through(4)  # ...which was taken at seq 4
    box.put(4, _item("x"))  # a replay the snapshot already holds
    box.put(6, _item("c", 6))
    assert box.take() == (6, [_item("b", 5), _item("c", 6)])


def test_key_of_is_used_for_coalescing() -> None:
    box = Outbox(lambda item: f"{item['entity']}:{item['id']}", limit=10)
    box.put(1, {"entity": "need", "id": "1", "v": 1})
    box.put(2, {"entity": "team", "id": "1", "v": 2})
    box.put(3, {"entity": "need", "id": "1", "v": 3})
    _, items = box.take()
    assert items == [{"entity": "team", "id": "1", "v": 2}, {"entity": "need", "id": "1", "v": 3}]
