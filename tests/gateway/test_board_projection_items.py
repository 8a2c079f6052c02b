"""What the board projection writes to Redis for each Kafka record (items_of)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway import metrics
from gateway.board_projection import ACTIVE_DISPATCH, PROJECTED, items_of
from streams.errors import RawRecord, dead_letter
from tike import topics
from tike_core.decode import Reason, Rejection
from tike_core.situation import published
from tike_core.situation.published import board_delta, dispatch_record, refusal_record

AT = "2025-03-01T12:00:00+00:00"
LATENCY = "tike_gateway_decision_latency_seconds_count"


def _need(status: str, version: int = 3, team: str = "EP-AMB-1") -> dict[str, Any]:
    return {
        "need_id": "need-1",
        "region": "etela-pohjanmaa",
        "priority": "urgent",
        "sla_minutes": 30,
        "due_at": "2025-03-01T12:30:00+00:00",
        "source_need": {"source": "safety_alarm", "municipality": "Seinäjoki", "client": None},
        "dispatch": {
            "dispatch_id": "dsp-1",
            "version": version,
            "team_id": team,
            "status": status,
            "offered_at": AT,
        },
    }


def _dumps(doc: Any) -> bytes:
    return orjson.dumps(doc)


def _latency_count() -> float:
    return metrics.REGISTRY.get_sample_value(LATENCY) or 0.0


def test_projected_topics() -> None:
    assert set(PROJECTED) == {
        "tike.board",
        "tike.dispatches",
        "tike.devices",
        "tike.deadletter",
        "tike.audit",
    }


def test_none_value_projects_nothing() -> None:
    for topic in PROJECTED:
        assert items_of(topic, None, live=True) == []


def test_unprojected_topic_projects_nothing() -> None:
    assert items_of(topics.NEEDS, b'{"need_id": "n"}', live=True) == []


@pytest.mark.parametrize("value", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
@pytest.mark.parametrize("topic", [topics.BOARD, topics.DISPATCHES, topics.AUDIT])
def test_non_object_json_is_a_value_error(topic: str, value: bytes) -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        items_of(topic, value, live=False)


def test_invalid_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        items_of(topics.BOARD, b"{not json", live=False)
    with pytest.raises(ValueError):
        items_of(topics.BOARD, b"\xff\xfe", live=False)


def test_board_upsert() -> None:
    value = _dumps(board_delta("etela-pohjanmaa", "team", "EP-AMB-1", 7, {"status": "free"}, AT))
    assert items_of(topics.BOARD, value, live=False) == [
        ("board", "etela-pohjanmaa", "team:EP-AMB-1", "7", "upsert", value.decode())
    ]


def test_board_remove() -> None:
    value = _dumps(board_delta("pirkanmaa", "need", "need-9", 12, None, AT))
    assert items_of(topics.BOARD, value, live=True) == [
        ("board", "pirkanmaa", "need:need-9", "12", "remove", value.decode())
    ]


def test_board_keeps_raw_json_verbatim() -> None:
    value = (
        b'{"region":"r","entity":"kpi","id":"load","version":2,"op":"upsert",'
        b'"data":{"x":"\xc3\xa4"}}'
    )
    [item] = items_of(topics.BOARD, value, live=False)
    assert item[-1] == value.decode()
    assert item[:5] == ("board", "r", "kpi:load", "2", "upsert")


def test_board_version_is_an_integer_string() -> None:
    doc = board_delta("r", "need", "n", 1, None, AT)
    doc["version"] = 5.0
    [item] = items_of(topics.BOARD, _dumps(doc), live=False)
    assert item[3] == "5"


@pytest.mark.parametrize("missing", ["region", "entity", "id", "version", "op"])
def test_board_delta_missing_field_is_a_key_error(missing: str) -> None:
    doc = board_delta("r", "team", "t", 1, {"a": 1}, AT)
    del doc[missing]
    with pytest.raises(KeyError):
        items_of(topics.BOARD, _dumps(doc), live=False)


def test_board_new_live_need_observes_decision_latency() -> None:
    data = {"occurred_at": "2025-03-01T12:00:00+00:00", "received_at": "2025-03-01T12:00:02+00:00"}
    value = _dumps(board_delta("r", "need", "n-live", 1, data, AT))
    before = _latency_count()
    [item] = items_of(topics.BOARD, value, live=True)
    assert item[:5] == ("board", "r", "need:n-live", "1", "upsert")
    assert _latency_count() == before + 1


@pytest.mark.parametrize(
    ("entity", "version", "live", "data"),
    [
        ("need", 1, False, {"occurred_at": AT, "received_at": AT}),  # a rebuild, not live
        ("need", 2, True, {"occurred_at": AT, "received_at": AT}),  # not a new need
        ("team", 1, True, {"occurred_at": AT, "received_at": AT}),  # not a need
        ("need", 1, True, {"received_at": AT}),  # no event time
        ("need", 1, True, {"occurred_at": AT, "received_at": "garbage"}),  # unparseable
        ("need", 1, True, {"occurred_at": AT}),  # no receive time
        ("need", 1, True, None),  # a removal
    ],
    ids=["not-live", "version-2", "team", "no-occurred", "bad-received", "no-received", "remove"],
)
def test_board_decision_latency_only_for_new_live_needs(
    entity: str, version: int, live: bool, data: dict[str, Any] | None
) -> None:
    value = _dumps(board_delta("r", entity, "x", version, data, AT))
    before = _latency_count()
    [item] = items_of(topics.BOARD, value, live=live)
    assert item[2] == f"{entity}:x"
    assert _latency_count() == before


def test_board_delta_with_naive_occurred_at_is_still_projected() -> None:
    data = {"occurred_at": "2025-03-01T12:00:00", "received_at": "2025-03-01T12:00:02+00:00"}
    value = _dumps(board_delta("r", "need", "n", 1, data, AT))
    assert items_of(topics.BOARD, value, live=True)[0][2] == "need:n"


def test_active_statuses_are_the_situation_ones() -> None:
    assert published.ACTIVE == ACTIVE_DISPATCH


@pytest.mark.parametrize("status", ["requested", "received", "accepted", "in-progress"])
def test_active_dispatch_is_kept(status: str) -> None:
    value = _dumps(dispatch_record(_need(status, version=4), AT))
    assert items_of(topics.DISPATCHES, value, live=False) == [
        ("dispatch", "EP-AMB-1", "dsp-1", "4", "keep", value.decode())
    ]


@pytest.mark.parametrize("status", ["completed", "rejected", "cancelled", "failed"])
def test_terminal_dispatch_is_dropped(status: str) -> None:
    value = _dumps(dispatch_record(_need(status, version=9, team="PIR-2"), AT, reason="done"))
    assert items_of(topics.DISPATCHES, value, live=True) == [
        ("dispatch", "PIR-2", "dsp-1", "9", "drop", value.decode())
    ]


def test_unknown_dispatch_status_is_dropped() -> None:
    value = _dumps(dispatch_record(_need("draft"), AT))
    assert items_of(topics.DISPATCHES, value, live=False)[0][4] == "drop"


def test_dispatch_missing_status_is_a_key_error() -> None:
    doc = dispatch_record(_need("accepted"), AT)
    del doc["status"]
    with pytest.raises(KeyError):
        items_of(topics.DISPATCHES, _dumps(doc), live=False)


def test_dispatch_refusal_is_a_team_note() -> None:
    event = {"dispatch_id": "dsp-1", "team_id": "EP-AMB-1", "action": "accept", "event_id": "e1"}
    value = _dumps(refusal_record(event, "cannot accept a dispatch that is completed", AT))
    assert items_of(topics.DISPATCHES, value, live=False) == [
        ("note", "EP-AMB-1", "dsp-1", "0", "", value.decode())
    ]


def test_device_health() -> None:
    doc = {
        "kind": "device_health",
        "schema_version": 1,
        "device_id": "dev-42",
        "controller_id": "ctl-1",
        "region": "r",
        "municipality": "m",
        "condition": "silent",
        "last_seen": AT,
    }
    value = _dumps(doc)
    assert items_of(topics.DEVICE_HEALTH, value, live=False) == [
        ("device", "dev-42", "", "0", "", value.decode())
    ]


def test_device_health_without_device_id_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        items_of(topics.DEVICE_HEALTH, b'{"kind": "device_health"}', live=False)


def test_dead_letter_summary_omits_original_bytes() -> None:
    value = dead_letter(
        RawRecord("tike.in.alarms", 2, 17, b"secret-key", b"secret personal data"),
        Rejection(Reason.NOT_JSON, "not valid UTF-8 JSON"),
    )
    original = orjson.loads(value)
    assert original["key_b64"] and original["value_b64"]  # the input does carry them
    [item] = items_of(topics.DEADLETTER, value, live=False)
    assert item[:5] == ("deadletter", "not_json", "", "0", "")
    summary = orjson.loads(item[5])
    assert "key_b64" not in summary and "value_b64" not in summary
    assert summary == {
        k: original[k]
        for k in ("reason", "detail", "topic", "partition", "offset", "size", "received_at")
    }
    assert (summary["topic"], summary["partition"], summary["offset"]) == ("tike.in.alarms", 2, 17)


def test_dead_letter_without_reason() -> None:
    [item] = items_of(topics.DEADLETTER, b'{"detail": "d"}', live=False)
    assert item[1] == "None"
    assert orjson.loads(item[5])["detail"] == "d"


def test_audit() -> None:
    value = _dumps({"kind": "audit", "actor": "admin", "action": "token.issue", "at": AT})
    assert items_of(topics.AUDIT, value, live=True) == [("audit", "", "", "0", "", value.decode())]


def test_items_are_all_strings() -> None:
    """The apply script takes flat string arguments."""
    values = {
        topics.BOARD: _dumps(board_delta("r", "team", "t", 1, {}, AT)),
        topics.DISPATCHES: _dumps(dispatch_record(_need("accepted"), AT)),
        topics.DEVICE_HEALTH: b'{"device_id": "d"}',
        topics.DEADLETTER: b'{"reason": "x"}',
        topics.AUDIT: b"{}",
    }
    for topic, value in values.items():
        [item] = items_of(topic, value, live=False)
        assert len(item) == 6
        assert all(isinstance(part, str) for part in item), (topic, item)


def test_board_entity_outside_the_layout_is_refused() -> None:
    # "seq" or "stream" as an entity would name a key the projection uses for itself.
    for entity in ("seq", "stream", "v", "bogus"):
        raw = orjson.dumps(
            board_delta("etela-pohjanmaa", entity, "x", 1, {}, "2026-11-23T10:00:00+00:00")
        )
        with pytest.raises(ValueError, match="unknown board entity"):
            items_of(topics.BOARD, raw, live=False)
