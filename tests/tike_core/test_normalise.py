from datetime import UTC, datetime, timedelta

import pytest

from tike import topics
from tike.events import AlarmStatus, Call116117, CallPhase, Disposition, SafetyAlarm, Urgency
from tike.examples import example
from tike.records import (
    CallActivity,
    DeviceObservation,
    NeedSource,
    Origin,
    TeamState,
    UnplannedNeed,
)
from tike.regions import load_registry
from tike_core.decode import Reason, Rejection
from tike_core.normalise import MAX_FUTURE_SKEW_S, Emit, future_time, normalise

REG = load_registry()
# example() dates its events at the time it is called: each test takes "now" when it
# normalises, never at import (a long suite would otherwise date events minutes ahead).


def run(event: object) -> list[Emit]:
    origin = Origin(event_id=event.event_id, topic="t", partition=0, offset=1)  # type: ignore[attr-defined]
    out = normalise(event, REG, origin, datetime.now(UTC))  # type: ignore[arg-type]
    assert not isinstance(out, Rejection), out
    return out


def test_help_alarm_becomes_need_keyed_by_region_and_device_observation() -> None:
    alarm = example("safety_alarm")
    out = run(alarm)
    by_topic = {e.topic: e for e in out}
    need = by_topic[topics.INTAKE]
    assert need.key == "etela-pohjanmaa"
    assert isinstance(need.record, UnplannedNeed)
    assert need.record.source is NeedSource.SAFETY_ALARM
    assert need.record.alarm_code is AlarmStatus.FALL_DETECTED
    assert need.record.municipality == "743"
    assert need.record.origin.offset == 1
    obs = by_topic[topics.DEVICE_OBSERVATIONS]
    assert obs.key == alarm.device_id and isinstance(obs.record, DeviceObservation)


@pytest.mark.parametrize("status", ["heartbeat", "low_battery", "technical_fault"])
def test_device_statuses_create_no_need(status: str) -> None:
    alarm = SafetyAlarm.model_validate(
        {**example("safety_alarm").model_dump(), "status_code": status}
    )
    out = run(alarm)
    assert [e.topic for e in out] == [topics.DEVICE_OBSERVATIONS]


def test_need_id_is_deterministic_per_event() -> None:
    alarm = example("safety_alarm")
    first, second = run(alarm), run(alarm)
    assert first[1].record.need_id == second[1].record.need_id  # type: ignore[attr-defined]
    other = run(example("safety_alarm"))
    assert other[1].record.need_id != first[1].record.need_id  # type: ignore[attr-defined]


def test_resent_transport_request_is_the_same_need() -> None:
    a, b = example("transport_request"), example("transport_request")
    assert a.event_id != b.event_id
    assert run(a)[0].record.need_id == run(b)[0].record.need_id  # type: ignore[attr-defined]


def test_transport_uses_pickup_municipality() -> None:
    (need,) = run(example("transport_request"))
    assert need.record.municipality == "408"  # type: ignore[attr-defined]
    assert need.record.transport_origin == "care_home"  # type: ignore[attr-defined]


def _call(phase: CallPhase, urgency: Urgency | None, disposition: Disposition | None) -> Call116117:
    data = example("call_116117").model_dump()
    data.update(phase=phase, urgency=urgency, disposition=disposition)
    return Call116117.model_validate(data)


def test_call_phases_always_count_and_only_actionable_triage_is_a_need() -> None:
    started = run(_call(CallPhase.STARTED, None, None))
    assert [e.topic for e in started] == [topics.CALLS]
    advice = run(_call(CallPhase.TRIAGED, Urgency.E, Disposition.SELF_CARE))
    assert [e.topic for e in advice] == [topics.CALLS]
    visit = run(_call(CallPhase.TRIAGED, Urgency.C, Disposition.HOME_VISIT_NEEDED))
    assert [e.topic for e in visit] == [topics.INTAKE, topics.CALLS]
    activity = visit[1].record
    assert isinstance(activity, CallActivity)
    assert activity.need_id == visit[0].record.need_id  # type: ignore[attr-defined]


def test_life_threatening_urgency_is_a_need_whatever_the_disposition() -> None:
    out = run(_call(CallPhase.TRIAGED, Urgency.A, Disposition.SELF_CARE))
    assert out[0].topic == topics.INTAKE
    assert out[0].record.urgency is Urgency.A  # type: ignore[attr-defined]


def test_team_status_becomes_team_state_keyed_by_region() -> None:
    (state,) = run(example("team_status"))
    assert state.topic == topics.TEAM_STATE and state.key == "etela-pohjanmaa"
    assert isinstance(state.record, TeamState)


def test_unknown_municipality_is_rejected() -> None:
    data = example("safety_alarm").model_dump()
    data["municipality"] = "091"  # Helsinki: not in a shipped region
    alarm = SafetyAlarm.model_validate(data)
    out = normalise(alarm, REG, Origin(event_id="x", topic="t"), datetime.now(UTC))
    assert isinstance(out, Rejection) and out.reason is Reason.UNKNOWN_MUNICIPALITY
    assert "091" in out.detail


def test_team_coverage_with_unknown_municipality_is_rejected() -> None:
    data = example("team_status").model_dump()
    data["coverage"] = ["743", "999"]
    team = type(example("team_status")).model_validate(data)
    out = normalise(team, REG, Origin(event_id="x", topic="t"), datetime.now(UTC))
    assert isinstance(out, Rejection) and "999" in out.detail


@pytest.mark.parametrize(
    "kind", ["safety_alarm", "transport_request", "call_116117", "team_status"]
)
def test_an_event_from_beyond_the_future_skew_is_rejected_as_future_time(kind: str) -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    origin = Origin(event_id="x", topic="t")
    ahead = example(kind, now + timedelta(days=2))
    out = normalise(ahead, REG, origin, now)
    assert isinstance(out, Rejection) and out.reason is Reason.FUTURE_TIME
    assert "172800 s ahead" in out.detail and "TIKE_MAX_FUTURE_SKEW_S" in out.detail
    assert out.reason.value == "future_time"


def test_the_future_skew_limit_is_inclusive_and_configurable() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    origin = Origin(event_id="x", topic="t")
    at_limit = example("safety_alarm", now + timedelta(seconds=MAX_FUTURE_SKEW_S))
    assert not isinstance(normalise(at_limit, REG, origin, now), Rejection)
    just_over = example("safety_alarm", now + timedelta(seconds=MAX_FUTURE_SKEW_S + 1))
    assert isinstance(normalise(just_over, REG, origin, now), Rejection)
    assert not isinstance(normalise(just_over, REG, origin, now, max_future_skew_s=600), Rejection)
    assert future_time(at_limit, now, 0) is not None
    past = example("safety_alarm", now - timedelta(days=30))  # late events are fine
    assert future_time(past, now, 0) is None
