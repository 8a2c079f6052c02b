"""The offset bookkeeping (streams/offsets.py): plain calls, no broker, no Faust."""

from __future__ import annotations

from streams.offsets import OffsetBook, clip_gap, counts, covered, gaps

TP = ("tike.in.alarms", 0)
OTHER = ("tike.in.alarms", 1)


def test_covered_needs_every_offset_in_a_known_gap() -> None:
    assert covered([(10, 12)], 10, 12)
    assert covered([(10, 11), (11, 13)], 10, 13)  # adjacent intervals join
    assert not covered([(11, 12)], 10, 12)  # 10 is not a gap
    assert not covered([(10, 11), (12, 13)], 10, 13)  # 11 is not a gap
    assert covered([], 10, 10)  # an empty range
    assert covered([(0, 3), (10, 20)], 10, 15)  # intervals before the range do not matter


def test_a_gap_is_clipped_at_the_committed_offset_not_one_past_it() -> None:
    assert clip_gap(10, 5, 12) == (10, 12)
    assert clip_gap(None, 5, 12) == (5, 12)
    assert clip_gap(20, 5, 12) is None  # all committed already


def test_an_acknowledgement_counts_only_with_the_flow_on_in_the_current_generation() -> None:
    assert counts(True, 2, 2)
    assert not counts(False, 2, 2)
    assert not counts(True, 1, 2)


def test_a_record_missing_at_the_committed_offset_holds_the_commit() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    hold = book.hold(TP, 10, [11, 12], [], now=1.0)
    assert hold is not None and (hold.offset, hold.first_acked, hold.new) == (10, 11, True)
    again = book.hold(TP, 10, [11, 12, 13], [], now=2.0)
    assert again is not None and not again.new  # logged once per hole
    assert book.hole(TP) == 10
    assert book.hold(TP, 10, [10, 11, 12], [], now=3.0) is None  # it came and was processed
    assert not book.has_hole(TP)


def test_known_gaps_let_the_run_start_later() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    assert book.hold(TP, 10, [12, 13], [(10, 12)], now=0.0) is None
    assert book.hold(TP, 10, [12, 13], [(11, 12)], now=0.0) is not None


def test_before_the_first_commit_the_run_starts_where_the_seek_put_the_partition() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    assert book.hold(TP, None, [3, 4], [], now=0.0) is None  # no seek yet: Faust decides
    assert book.sought({TP: 0, OTHER: None}) == 1
    assert book.first_unprocessed(TP, None) == 0
    assert book.first_unprocessed(OTHER, None) is None
    assert book.first_unprocessed(TP, 7) == 7  # a commit wins
    assert book.hold(TP, None, [3, 4], [], now=0.0) is not None


def test_a_hole_is_fetched_again_after_its_grace_and_counted() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook(hole_grace_s=3.0)
    book.hold(TP, 10, [11], [], now=100.0)
    committed = {TP: 10}.get
    assert book.due_holes(102.0, {TP}, committed) == []
    assert book.due_holes(103.0, {TP}, committed) == [(TP, 10, 1)]
    assert book.due_holes(105.0, {TP}, committed) == []  # the refetch has its own grace
    assert book.due_holes(106.0, {TP}, committed) == [(TP, 10, 2)]


def test_a_hole_of_a_revoked_or_committed_past_partition_is_forgotten() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    book.hold(TP, 10, [11], [], now=0.0)
    book.hold(OTHER, 4, [6], [], now=0.0)
    due = book.due_holes(100.0, {OTHER}, {OTHER: 5}.get)
    assert due == []  # TP revoked; OTHER committed past 4 (by another owner)
    assert not book.has_holes()


def test_a_hole_below_the_log_start_becomes_a_gap() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    book.hold(TP, 10, [11], [], now=0.0)
    assert book.expired(TP, 10, log_start=None) is None  # unknown: fetch again
    assert book.expired(TP, 10, log_start=10) is None  # still in the log
    assert book.has_hole(TP)
    assert book.expired(TP, 10, log_start=50) == (10, 49)
    assert not book.has_hole(TP)


def test_a_stalled_partition_is_fetched_again_from_its_first_unprocessed_offset() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook(stall_grace_s=10.0)
    asked: list[str] = []

    def highwater() -> int:
        asked.append("highwater")
        return 20

    mark = book.mark(TP, 10, [])
    assert book.stalled(TP, mark, 0.0, 10, highwater, list) is None
    assert book.stalled(TP, mark, 9.0, 10, highwater, list) is None
    assert asked == []  # nothing asked of the consumer before the grace passed
    assert book.stalled(TP, mark, 10.0, 10, highwater, list) == (10, 20)
    assert book.stalled(TP, mark, 15.0, 10, highwater, list) is None  # its own grace


def test_progress_or_nothing_waiting_is_not_a_stall() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook(stall_grace_s=10.0)
    book.stalled(TP, book.mark(TP, 10, []), 0.0, 10, lambda: 20, list)
    moved = book.mark(TP, 10, [10])
    assert book.stalled(TP, moved, 10.0, 10, lambda: 20, list) is None  # progress
    assert book.stalled(TP, moved, 20.0, 10, lambda: 10, list) is None  # nothing after 10
    # Only a trailing transaction marker after the committed offset: nothing waits.
    assert book.stalled(TP, moved, 30.0, 10, lambda: 11, lambda: [(10, 11)]) is None


def test_a_seek_resets_the_progress_and_the_deliveries() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    assert book.deliver(TP, 5, batch_seeks=0)
    assert book.delivered(TP) == 5
    book.sought({TP: 3})
    assert book.delivered(TP) is None
    assert not book.deliver(TP, 6, batch_seeks=0)  # fetched before the seek
    assert book.delivered(TP) is None


def test_an_abandoned_record_is_sought_only_when_something_after_it_was_delivered() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    book.deliver(TP, 30, 0)
    book.abandon(TP, 25)
    book.abandon(TP, 22)  # the lowest counts
    book.abandon(OTHER, 40)  # nothing delivered since
    book.abandon(("tike.in.alarms", 2), 1)  # revoked: its new owner starts from the commit
    out = book.refetches({TP, OTHER})
    assert sorted(out) == [(TP, 22, 30, True), (OTHER, 40, None, False)]
    assert not book.has_abandoned()


def test_acknowledgements_of_records_let_go_are_struck_once_they_arrive() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    book.let_go(TP, 10)
    book.let_go(TP, 12)
    assert book.strike(TP, 10, {11}) == []  # not acknowledged yet: still pending
    assert book.letting_go(TP)
    assert book.strike(TP, 10, {10, 11, 12}) == [10, 12]
    assert not book.letting_go(TP)


def test_a_record_let_go_below_the_committed_offset_is_forgotten() -> None:
    book: OffsetBook[tuple[str, int]] = OffsetBook()
    book.let_go(TP, 3)
    assert book.strike(TP, 10, {10}) == []
    assert not book.letting_go(TP)


def test_only_offsets_a_fetch_covered_without_a_record_are_gaps() -> None:
    # More cases: tests/streams/test_fetch_spans.py.
    assert gaps([(10, 20)], [10, 11, 13]) == [(12, 12), (14, 19)]
    assert gaps([(0, 5), (10, 12)], [0, 1, 2, 3, 4, 10, 11]) == []  # a jump is not a gap
