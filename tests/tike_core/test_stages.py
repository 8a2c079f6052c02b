"""The agents' per-record logic, run by the stage harness on lists of records: no broker.

Each test feeds raw records (bytes, as Kafka gives them) to a stage and checks what it would
produce; the harness also validates every produced record against its output contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from rules.engine import Router
from tike import topics
from tike.examples import example
from tike.regions import load_registry
from tike_core.situation.machine import Situation, Timing
from tike_core.situation.stage import SituationStage
from tike_core.stage import IngestStage, RawRecord, device_observation
from tike_core.testing import Produced, check_contract, run_stage, tick

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REGISTRY = load_registry()
ROUTER = Router.default(REGISTRY)
REGION = "etela-pohjanmaa"


def raw(topic: str, value: bytes | dict[str, Any], offset: int, key: bytes = b"k") -> RawRecord:
    body = value if isinstance(value, bytes) else orjson.dumps(value)
    return RawRecord(topic, 0, offset, key, body)


def ingest(kind: str) -> IngestStage:
    return IngestStage(kind, REGISTRY, max_message_bytes=65536, max_future_skew_s=300)


def situation() -> SituationStage:
    return SituationStage(Situation(lambda: ROUTER, Timing()))


def team(team_id: str) -> dict[str, Any]:
    return {
        "team_id": team_id,
        "region": REGION,
        "team_type": "safety_responder",
        "status": "available",
        "location": {"lat": 62.79, "lon": 22.84},
        "skills": ["lifting"],
        "capacity": 1,
        "shift": None,
        "coverage": ["743"],
        "reported_at": T0.isoformat(),
        "synthetic": False,
    }


def kinds(produced: list[Produced]) -> list[tuple[str, str | None]]:
    return [(p.topic, p.value.get("kind")) for p in produced]


def alarm_need() -> dict[str, Any]:
    """A need as the ingest stage makes it from the example safety alarm."""
    alarm = example("safety_alarm", T0).model_dump_json().encode()
    produced = run_stage(ingest("safety_alarm"), [raw(topics.ALARMS, alarm, 0)], T0)
    (need,) = [p.value for p in produced if p.topic == topics.INTAKE]
    return need


def test_ingest_turns_an_alarm_into_a_need_and_a_device_observation() -> None:
    alarm = example("safety_alarm", T0).model_dump_json().encode()
    produced = run_stage(ingest("safety_alarm"), [raw(topics.ALARMS, alarm, 7)], T0)
    assert {p.topic for p in produced} == {topics.INTAKE, topics.DEVICE_OBSERVATIONS}
    (need,) = [p for p in produced if p.topic == topics.INTAKE]
    assert need.key == REGION
    assert need.value["origin"] == {
        "event_id": orjson.loads(alarm)["event_id"],
        "topic": topics.ALARMS,
        "partition": 0,
        "offset": 7,
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"", "empty"), (b"{not json", "not_json"), (b"[1]", "not_object")],
)
def test_ingest_dead_letters_a_bad_record_with_its_bytes(value: bytes, reason: str) -> None:
    (letter,) = run_stage(ingest("safety_alarm"), [raw(topics.ALARMS, value, 3)], T0)
    assert letter.topic == topics.DEADLETTER and letter.key == topics.ALARMS
    assert letter.value["reason"] == reason
    assert (letter.value["offset"], letter.value["size"]) == (3, len(value))


def test_a_device_observation_that_breaks_its_model_is_rejected() -> None:
    rejected = device_observation(raw(topics.DEVICE_OBSERVATIONS, {"device_id": 1}, 0))
    assert not hasattr(rejected, "device_id")
    assert "device_id" in getattr(rejected, "detail", "")


def test_situation_offers_a_need_and_journals_before_its_outputs() -> None:
    stage = situation()
    records = [raw(topics.TEAM_STATE, team("near"), 0), raw(topics.INTAKE, alarm_need(), 0)]
    produced = run_stage(stage, records, T0)
    # The team report: its journal record, then its board row.
    assert kinds(produced[:2]) == [(topics.JOURNAL, "journal"), (topics.BOARD, "board_delta")]
    need_outputs = produced[2:]
    assert need_outputs[0].topic == topics.JOURNAL and need_outputs[0].partition == 0
    assert sorted(kinds(need_outputs[1:])) == sorted(
        [
            (topics.NEEDS, "unplanned_need"),
            (topics.DECISIONS, "routing_decision"),
            (topics.DISPATCHES, "dispatch"),
            (topics.BOARD, "board_delta"),
            (topics.BOARD, "board_delta"),
        ]
    )
    (offer,) = [p for p in need_outputs if p.topic == topics.DISPATCHES]
    assert (offer.key, offer.value["status"]) == ("near", "requested")


def test_situation_drops_a_redelivered_need_and_dead_letters_garbage() -> None:
    stage = situation()
    need = alarm_need()
    first = run_stage(stage, [raw(topics.INTAKE, need, 0)], T0)
    assert first[0].topic == topics.JOURNAL
    again = run_stage(stage, [raw(topics.INTAKE, need, 1)], T0)
    assert again == []
    assert stage(topics.INTAKE, orjson.dumps(need), {}, T0).duplicate
    (letter,) = run_stage(stage, [raw(topics.REGION_COMMANDS, b"\xff", 2)], T0)
    assert letter.topic == topics.DEADLETTER and letter.value["reason"] == "internal_error"
    (unknown,) = run_stage(stage, [raw(topics.REGION_COMMANDS, {"kind": "x"}, 3)], T0)
    assert "unknown region command kind 'x'" in unknown.value["detail"]


def test_an_unanswered_offer_expires_on_a_tick() -> None:
    stage = situation()
    run_stage(stage, [raw(topics.TEAM_STATE, team("near"), 0)], T0)
    run_stage(stage, [raw(topics.INTAKE, alarm_need(), 0)], T0)
    early = tick(stage, T0 + timedelta(seconds=5))  # only the KPIs move
    assert {p.value.get("entity") for p in early[1:]} == {"kpi"}
    later = tick(stage, T0 + timedelta(minutes=6))  # past the 300 s offer time-out
    assert later[0].topic == topics.JOURNAL and later[0].value["cause"] is None
    (expired,) = [p.value for p in later if p.topic == topics.DISPATCHES]
    assert (expired["status"], expired["reason"]) == ("cancelled", "offer expired")
    assert [p.value["escalated"] for p in later if p.topic == topics.DECISIONS] == [True]


def test_the_harness_rejects_a_record_that_breaks_its_contract() -> None:
    delta = {
        "kind": "board_delta",
        "schema_version": 1,
        "region": REGION,
        "entity": "need",
        "id": "n1",
        "version": 1,
        "op": "upsert",
        "at": T0.isoformat(),
        "data": {},
    }
    assert check_contract(Produced(topics.BOARD, REGION, delta)) is not None
    with pytest.raises(ValidationError):
        check_contract(Produced(topics.BOARD, REGION, {**delta, "entity": "weather"}))
    with pytest.raises(ValidationError):
        check_contract(Produced(topics.BOARD, REGION, {**delta, "surprise": 1}))
