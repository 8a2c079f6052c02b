"""Gaps come from what a fetch covered (streams/offsets.py), never from jumps between
delivered offsets; the spans come from the worker consumer's own fetcher only
(streams/compat.py). Against a real broker: tests/integration/test_fetch_spans.py."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from aiokafka.consumer.fetcher import FetchResult

from streams import compat
from streams.compat import Fetched
from streams.offsets import gaps


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


class _Batch:
    """aiokafka's PartitionRecords as FetchResult uses it: records 10, 11, 13 and a trailing
    control batch at 14; ``next_fetch_offset`` moves as it is iterated."""

    def __init__(self) -> None:
        self.next_fetch_offset = 10
        self._offsets = iter([10, 11, 13])

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            offset = next(self._offsets)
        except StopIteration:
            self.next_fetch_offset = 15
            raise
        self.next_fetch_offset = offset + 1
        return SimpleNamespace(offset=offset)


def _fetch_result(tp: str) -> FetchResult:
    state = SimpleNamespace(paused=False, position=10)
    state.consumed_to = lambda offset: setattr(state, "position", offset)
    assignment = SimpleNamespace(active=True, state_value=lambda tp: state)
    return FetchResult(tp, assignment=assignment, partition_records=_Batch(), backoff=0)


def test_only_the_tracked_consumer_s_fetch_results_report_spans() -> None:
    original = FetchResult.getall
    tracked = SimpleNamespace(_fetcher=SimpleNamespace(_records=OrderedDict()))
    other = SimpleNamespace(_fetcher=SimpleNamespace(_records=OrderedDict()))
    tracked._fetcher._records["early"] = _fetch_result("early")  # fetched before tracking
    compat.track_fetch_spans(tracked)
    compat.track_fetch_spans(tracked)  # idempotent
    tracked._fetcher._records["tp"] = _fetch_result("tp")
    other._fetcher._records["tp"] = _fetch_result("tp")
    assert FetchResult.getall is original  # no process-wide patch

    spans: dict[Any, list[tuple[int, int]]] = {}
    token = compat.SINK.set(spans)
    try:
        records = tracked._fetcher._records["tp"].getall()
        tracked._fetcher._records["early"].getall()
        other._fetcher._records["tp"].getall()
    finally:
        compat.SINK.reset(token)
    assert [r.offset for r in records] == [10, 11, 13]
    assert spans == {"tp": [(10, 15)], "early": [(10, 15)]}
    assert gaps(spans["tp"], [10, 11, 13]) == [(12, 12), (14, 14)]
    assert type(tracked._fetcher._records["tp"]) is FetchResult  # aiokafka tests the type


def test_without_the_sink_nothing_is_reported_and_records_still_flow() -> None:
    consumer = SimpleNamespace(_fetcher=SimpleNamespace(_records=OrderedDict()))
    compat.track_fetch_spans(consumer)
    consumer._fetcher._records["tp"] = _fetch_result("tp")
    assert [r.offset for r in consumer._fetcher._records["tp"].getall(max_records=2)] == [10, 11]
    assert compat.SINK.get() is None
