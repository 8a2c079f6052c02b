"""The consumer history carried by the refetch warnings (streams/consumer_trace.py)."""

from __future__ import annotations

from streams.compat import consumer_state
from streams.consumer_trace import ConsumerTrace


def test_consecutive_offsets_of_one_kind_make_one_range() -> None:
    trace = ConsumerTrace()
    for offset in (40, 41, 42):
        trace.add("tp", "delivered", offset)
    trace.add("tp", "committed", 43)
    trace.add("tp", "delivered", 45)  # not consecutive: a new entry
    text = trace.describe("tp")
    assert "delivered 40-42" in text
    assert "committed 43" in text
    assert text.index("delivered 40-42") < text.index("committed 43") < text.index("delivered 45")


def test_an_entry_with_a_note_stands_alone_and_the_history_is_bounded() -> None:
    trace = ConsumerTrace(depth=3)
    trace.add("tp", "delivered", 1)
    trace.add("tp", "delivered", 2, "fetched before a seek")
    trace.add("tp", "delivered", 3)
    assert "delivered 2 (fetched before a seek)" in trace.describe("tp")
    for offset in (10, 20, 30):
        trace.add("tp", "sought", offset, "stalled")
    assert "delivered" not in trace.describe("tp")
    assert trace.describe("other") == "no history"


def test_the_state_of_an_unknown_consumer_is_reported_not_raised() -> None:
    assert consumer_state(object(), "tp").startswith("(state unknown")
