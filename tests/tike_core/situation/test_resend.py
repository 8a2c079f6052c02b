"""Which journaled outputs a rebuilt partition sends again (tike_core.situation.resend)."""

from __future__ import annotations

from typing import Any

from tike import topics
from tike_core.situation.resend import need_ids, to_resend, undelivered


def record(offset: int | None, *outputs: dict[str, Any], topic: str = topics.INTAKE) -> Any:
    cause = None if offset is None else {"topic": topic, "partition": 1, "offset": offset}
    return {"cause": cause, "outputs": list(outputs)}


def need(need_id: str) -> dict[str, Any]:
    return {"topic": topics.NEEDS, "key": "r", "value": {"need_id": need_id}}


def board(entity_id: str) -> dict[str, Any]:
    return {"topic": topics.BOARD, "key": "r", "value": {"kind": "board_delta", "id": entity_id}}


def test_records_after_the_last_committed_input_are_undelivered() -> None:
    tail = [(record(3), 10), (record(4), 11), (record(None), 12), (record(5), 13)]
    assert undelivered(tail, {(topics.INTAKE, 1): 5}) == tail[2:]


def test_a_tick_after_a_committed_input_is_resent_and_one_before_it_is_not() -> None:
    tail = [(record(None), 1), (record(7), 2), (record(None), 3)]
    assert undelivered(tail, {(topics.INTAKE, 1): 8}) == [tail[2]]


def test_nothing_committed_means_the_whole_tail_is_undelivered() -> None:
    tail = [(record(0), 1), (record(None), 2)]
    assert undelivered(tail, {}) == tail


def test_commits_are_per_input_topic() -> None:
    tail = [(record(3, topic=topics.CALLS), 1), (record(3), 2)]
    # tike.calls is committed past 3, tike.intake is not committed at all
    assert undelivered(tail, {(topics.CALLS, 1): 4}) == tail[1:]


def test_everything_committed_means_nothing_to_resend() -> None:
    tail = [(record(0), 1), (record(1), 2)]
    assert undelivered(tail, {(topics.INTAKE, 1): 2}) == []


def test_a_published_need_is_not_sent_again_but_its_board_delta_is() -> None:
    records = [record(1, need("n1"), board("n1")), record(2, need("n2"), board("n2"))]
    assert need_ids(records) == {"n1", "n2"}
    sent = to_resend(records, published={"n1"})
    assert sent == [board("n1"), need("n2"), board("n2")]


def test_a_need_listed_twice_in_the_tail_is_sent_once() -> None:
    records = [record(1, need("n1")), record(2, need("n1"))]
    assert to_resend(records, published=set()) == [need("n1")]
