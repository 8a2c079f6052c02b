"""Valid example events for every input kind (`tike example <kind>`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tike import pii
from tike.events import (
    AgeBand,
    AlarmStatus,
    Call116117,
    CallPhase,
    ClientFlag,
    ConditionCategory,
    Destination,
    DeviceType,
    Disposition,
    EventBase,
    Location,
    Mobility,
    OperatorAssessment,
    PickupPlace,
    Place,
    SafetyAlarm,
    Shift,
    SymptomCategory,
    TeamAvailability,
    TeamStatus,
    TeamType,
    TimeWindow,
    TransportRequest,
    Urgency,
)


def _id() -> str:
    """A random event id; one that happens to read as a personal identity code (about one
    in ten thousand) is drawn again, as the events refuse such strings."""
    while True:
        found = str(uuid.uuid4())
        if not pii.contains_code(found):
            return found


def safety_alarm(now: datetime) -> SafetyAlarm:
    return SafetyAlarm(
        event_id=_id(),
        occurred_at=now,
        source="scaip-centre-ep",
        controller_id="ctrl-743-0042",
        device_id="dev-743-0042-1",
        device_type=DeviceType.FALL_SENSOR,
        device_component="sensor1",
        status_code=AlarmStatus.FALL_DETECTED,
        client="c7f3a9e1b2",
        municipality="743",
        location=Location(place="bathroom", lat=62.7903, lon=22.8403),
        client_flags=frozenset({ClientFlag.HOME_CARE, ClientFlag.LIVES_ALONE}),
        age_band=AgeBand.OLD_85,
        operator_assessment=OperatorAssessment.NO_INJURY,
    )


def transport_request(now: datetime) -> TransportRequest:
    return TransportRequest(
        event_id=_id(),
        occurred_at=now,
        source="care-home-system",
        request_id="tr-2026-000123",
        pickup_place_type=PickupPlace.CARE_HOME,
        pickup=Place(
            municipality="408",
            building="Palvelukoti Lapuanhovi",
            floor="2",
            room="214",
            location=Location(lat=62.9702, lon=23.0081),
        ),
        destination_type=Destination.EMERGENCY_DEPARTMENT,
        destination="Seinäjoen keskussairaala, yhteispäivystys",
        pickup_window=TimeWindow(earliest=now, latest=now + timedelta(hours=2)),
        condition_category=ConditionCategory.GENERAL_WEAKNESS,
        mobility=Mobility.WHEELCHAIR,
        requesting_unit="care-home-lapuanhovi",
        client="a19d44e0c7",
        age_band=AgeBand.OLD_85,
    )


def call_116117(now: datetime) -> Call116117:
    return Call116117(
        event_id=_id(),
        occurred_at=now,
        source="116117-ep",
        call_id="call-20261123-0815",
        phase=CallPhase.TRIAGED,
        caller_age_band=AgeBand.OLD_75,
        municipality="145",
        symptom_category=SymptomCategory.FEVER_INFECTION,
        urgency=Urgency.C,
        disposition=Disposition.HOME_VISIT_NEEDED,
        client="5be2c01d9f",
    )


def team_status(now: datetime) -> TeamStatus:
    return TeamStatus(
        event_id=_id(),
        occurred_at=now,
        source="team-app",
        team_id="mobile-nurse-1",
        team_type=TeamType.MOBILE_NURSE,
        status=TeamAvailability.AVAILABLE,
        location=Location(lat=62.79, lon=22.84),
        skills=frozenset({"iv_therapy", "wound_care"}),
        capacity=1,
        shift=Shift(start=now - timedelta(hours=2), end=now + timedelta(hours=6)),
        coverage=("743", "145", "408"),
    )


EXAMPLES: dict[str, Callable[[datetime], EventBase]] = {
    "safety_alarm": safety_alarm,
    "transport_request": transport_request,
    "call_116117": call_116117,
    "team_status": team_status,
}


def example(kind: str, now: datetime | None = None) -> EventBase:
    return EXAMPLES[kind](now or datetime.now(UTC))
