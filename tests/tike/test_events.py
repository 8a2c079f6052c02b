from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from tike.events import KINDS, Call116117, Location, SafetyAlarm
from tike.examples import EXAMPLES, example


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_examples_round_trip_through_their_model(kind: str) -> None:
    event = example(kind)
    again = KINDS[kind].model_validate_json(event.model_dump_json())
    assert again == event
    assert again.kind == kind


def test_events_are_frozen() -> None:
    alarm = example("safety_alarm")
    with pytest.raises(ValidationError):
        alarm.device_id = "other"  # type: ignore[misc]


def test_occurred_at_is_kept_in_utc() -> None:
    helsinki = timezone(timedelta(hours=2))
    data = example("safety_alarm").model_dump()
    data["occurred_at"] = datetime(2026, 11, 23, 12, 0, tzinfo=helsinki)
    alarm = SafetyAlarm.model_validate(data)
    assert alarm.occurred_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert alarm.occurred_at.utcoffset() == timedelta(0)


def test_naive_times_are_refused() -> None:
    data = example("safety_alarm").model_dump()
    data["occurred_at"] = "2026-11-23T12:00:00"
    with pytest.raises(ValidationError, match="timezone"):
        SafetyAlarm.model_validate(data)


def test_unknown_fields_are_refused() -> None:
    data = example("safety_alarm").model_dump()
    data["client_name"] = "Matti Meikäläinen"
    with pytest.raises(ValidationError, match="client_name"):
        SafetyAlarm.model_validate(data)


@pytest.mark.parametrize("client", ["Matti Meikäläinen", "010150-123A", "x"])
def test_client_must_be_a_pseudonym(client: str) -> None:
    data = example("safety_alarm").model_dump()
    data["client"] = client
    with pytest.raises(ValidationError, match="client"):
        SafetyAlarm.model_validate(data)


def test_triaged_call_needs_urgency_and_disposition() -> None:
    data = example("call_116117").model_dump()
    data["urgency"] = None
    with pytest.raises(ValidationError, match="urgency and disposition"):
        Call116117.model_validate(data)
    data["phase"] = "started"
    assert Call116117.model_validate(data).urgency is None


def test_location_needs_both_coordinates() -> None:
    with pytest.raises(ValidationError, match="together"):
        Location(lat=62.0)
    assert Location(place="kitchen").lat is None


def test_transport_window_must_be_ordered() -> None:
    data = example("transport_request").model_dump()
    w = data["pickup_window"]
    data["pickup_window"] = {"earliest": w["latest"], "latest": w["earliest"]}
    with pytest.raises(ValidationError, match="latest"):
        KINDS["transport_request"].model_validate(data)


def test_team_needs_coverage() -> None:
    data = example("team_status").model_dump()
    data["coverage"] = []
    with pytest.raises(ValidationError, match="coverage"):
        KINDS["team_status"].model_validate(data)
