"""Gaps come from what a fetch covered, never from jumps between delivered offsets."""

from __future__ import annotations

from streams.fetch_spans import Fetched, gaps


def test_a_span_fully_held_by_records_has_no_gap() -> None:
    assert gaps([(10, 15)], [10, 11, 12, 13, 14]) == []


def test_offsets_without_a_record_inside_a_span_are_gaps() -> None:
    # 12 a transaction marker, 15-16 compacted away, 19 a trailing control batch.
    assert gaps([(10, 20)], [10, 11, 13, 14, 17, 18]) == [(12, 12), (15, 16), (19, 19)]


def test_a_span_that_starts_before_its_first_record_has_a_leading_gap() -> None:
    assert gaps([(40, 45)], [43, 44]) == [(40, 42)]


def test_a_span_without_records_is_one_gap() -> None:
    # A fetch of only control batches moves the position and hands nothing over.
    assert gaps([(7, 9)], []) == [(7, 8)]


def test_a_jump_between_spans_is_not_a_gap() -> None:
    # Records 5-9 were fetched but not handed over here (a seek, a dropped batch): no span
    # covers them, so they stay unprocessed and hold the commit. Faust would call 5-9 a gap.
    assert gaps([(0, 5), (10, 12)], [0, 1, 2, 3, 4, 10, 11]) == []


def test_records_outside_every_span_are_ignored() -> None:
    assert gaps([(3, 5)], [0, 1, 3, 4, 9]) == []


def test_fetched_keeps_records_and_spans() -> None:
    fetched = Fetched({"tp": [1, 2]}, {"tp": [(1, 3)]})
    assert dict(fetched) == {"tp": [1, 2]}
    assert fetched.spans == {"tp": [(1, 3)]}
