"""Normalise decoded input events into needs, team state, device observations and call
activity. Pure: no I/O, the caller passes the clock and where the event came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tike import topics
from tike.events import (
    DEVICE_STATUSES,
    Call116117,
    CallPhase,
    ControlAction,
    Disposition,
    EventBase,
    SafetyAlarm,
    TeamEvent,
    TeamStatus,
    TransportRequest,
    Urgency,
)
from tike.records import (
    CallActivity,
    DeviceObservation,
    NeedSource,
    Origin,
    TeamState,
    UnplannedNeed,
    stable_id,
)
from tike.regions import Municipality, Registry
from tike_core.decode import Reason, Rejection


@dataclass(frozen=True, slots=True)
class Emit:
    """One record to produce: topic, key and the record."""

    topic: str
    key: str
    record: BaseModel


#: 116117 outcomes that need someone to act; self-care and appointments end on the phone.
ACTION_DISPOSITIONS = frozenset(
    {
        Disposition.HOME_VISIT_NEEDED,
        Disposition.URGENT_CLINIC,
        Disposition.EMERGENCY_DEPARTMENT,
        Disposition.AMBULANCE,
    }
)
LIFE_THREATENING_URGENCY = frozenset({Urgency.A, Urgency.B})

#: Default of ``TIKE_MAX_FUTURE_SKEW_S``: how far ahead of the worker's clock an event's
#: ``occurred_at`` may be (source clocks drift; an event from the future is a broken clock).
MAX_FUTURE_SKEW_S = 300.0


def future_time(event: EventBase, now: datetime, max_skew_s: float) -> Rejection | None:
    """A rejection if the event says it happened more than ``max_skew_s`` after ``now``."""
    ahead = (event.occurred_at - now).total_seconds()
    if ahead <= max_skew_s:
        return None
    return Rejection(
        Reason.FUTURE_TIME,
        f"occurred_at {event.occurred_at.isoformat()} is {ahead:.0f} s ahead of the worker's "
        f"clock ({now.isoformat()}); the limit is {max_skew_s:g} s (TIKE_MAX_FUTURE_SKEW_S). "
        "Check the source's clock and time zone",
    )


def _unknown(code: str) -> Rejection:
    return Rejection(Reason.UNKNOWN_MUNICIPALITY, f"municipality {code!r} is in no known region")


def _need(
    ev: SafetyAlarm | TransportRequest | Call116117,
    muni: Municipality,
    origin: Origin,
    now: datetime,
    **fields: Any,
) -> UnplannedNeed:
    """The need input ``ev`` in ``muni`` raises: what every source gives it, and ``fields``."""
    return UnplannedNeed(
        region=muni.region,
        municipality=muni.code,
        occurred_at=ev.occurred_at,
        received_at=now,
        origin=origin,
        synthetic=ev.synthetic,
        client=ev.client,
        client_flags=ev.client_flags,
        **fields,
    )


def _alarm(ev: SafetyAlarm, muni: Municipality, origin: Origin, now: datetime) -> list[Emit]:
    obs = DeviceObservation(
        device_id=ev.device_id,
        controller_id=ev.controller_id,
        device_type=ev.device_type,
        observed=ev.status_code,
        observed_at=ev.occurred_at,
        region=muni.region,
        municipality=muni.code,
        client=ev.client,
        location=ev.location,
        age_band=ev.age_band,
        client_flags=ev.client_flags,
        event_id=ev.event_id,
        synthetic=ev.synthetic,
    )
    out = [Emit(topics.DEVICE_OBSERVATIONS, ev.device_id, obs)]
    if ev.status_code not in DEVICE_STATUSES:
        need = _need(
            ev,
            muni,
            origin,
            now,
            need_id=stable_id("need", "alarm", ev.event_id),
            source=NeedSource.SAFETY_ALARM,
            age_band=ev.age_band,
            location=ev.location,
            device_id=ev.device_id,
            device_type=ev.device_type,
            alarm_code=ev.status_code,
            operator_assessment=ev.operator_assessment,
        )
        out.append(Emit(topics.INTAKE, muni.region, need))
    return out


def _transport(ev: TransportRequest, muni: Municipality, origin: Origin, now: datetime) -> Emit:
    need = _need(
        ev,
        muni,
        origin,
        now,
        # One need per transport request: a re-sent request is the same need.
        need_id=stable_id("need", "transport", ev.request_id),
        source=NeedSource.TRANSPORT_REQUEST,
        age_band=ev.age_band,
        location=ev.pickup.location,
        transport_request_id=ev.request_id,
        transport_origin=ev.pickup_place_type,
        transport_destination=ev.destination_type,
        condition_category=ev.condition_category,
        mobility=ev.mobility,
        infection_status=ev.infection_status,
        pickup_earliest=ev.pickup_window.earliest,
        pickup_latest=ev.pickup_window.latest,
        requesting_unit=ev.requesting_unit,
    )
    return Emit(topics.INTAKE, muni.region, need)


def call_needs_action(ev: Call116117) -> bool:
    if ev.phase is not CallPhase.TRIAGED:
        return False
    return ev.urgency in LIFE_THREATENING_URGENCY or ev.disposition in ACTION_DISPOSITIONS


def _call(ev: Call116117, muni: Municipality, origin: Origin, now: datetime) -> list[Emit]:
    out: list[Emit] = []
    need_id = None
    if call_needs_action(ev):
        need_id = stable_id("need", "call116117", ev.call_id)
        need = _need(
            ev,
            muni,
            origin,
            now,
            need_id=need_id,
            source=NeedSource.CALL_116117,
            age_band=ev.caller_age_band,
            location=ev.location,
            call_id=ev.call_id,
            urgency=ev.urgency,
            disposition=ev.disposition,
            symptom_category=ev.symptom_category,
        )
        out.append(Emit(topics.INTAKE, muni.region, need))
    activity = CallActivity(
        call_id=ev.call_id,
        region=muni.region,
        municipality=muni.code,
        phase=ev.phase,
        occurred_at=ev.occurred_at,
        urgency=ev.urgency,
        disposition=ev.disposition,
        need_id=need_id,
        synthetic=ev.synthetic,
    )
    out.append(Emit(topics.CALLS, muni.region, activity))
    return out


def _team(ev: TeamStatus, registry: Registry) -> list[Emit] | Rejection:
    munis = [registry.municipality(code) for code in ev.coverage]
    for code, m in zip(ev.coverage, munis, strict=True):
        if m is None:
            return _unknown(code)
    regions = {m.region for m in munis if m is not None}
    if len(regions) != 1:
        return Rejection(
            Reason.INVALID_FIELDS, f"coverage spans several regions: {sorted(regions)}"
        )
    region = regions.pop()
    state = TeamState(
        team_id=ev.team_id,
        region=region,
        team_type=ev.team_type,
        status=ev.status,
        location=ev.location,
        skills=ev.skills,
        capacity=ev.capacity,
        shift=ev.shift,
        coverage=ev.coverage,
        reported_at=ev.occurred_at,
        synthetic=ev.synthetic,
    )
    return [Emit(topics.TEAM_STATE, region, state)]


def normalise(
    event: EventBase,
    registry: Registry,
    origin: Origin,
    now: datetime,
    max_future_skew_s: float = MAX_FUTURE_SKEW_S,
) -> list[Emit] | Rejection:
    """Map one decoded input event to the records it causes. ``now`` is the worker's clock;
    an event dated more than ``max_future_skew_s`` after it is rejected (``future_time``)."""
    too_late = future_time(event, now, max_future_skew_s)
    if too_late is not None:
        return too_late
    if isinstance(event, TeamStatus):
        return _team(event, registry)
    if isinstance(event, TeamEvent | ControlAction):
        if event.region not in registry.regions:
            return Rejection(Reason.UNKNOWN_REGION, f"region {event.region!r} is unknown")
        return [Emit(topics.REGION_COMMANDS, event.region, event)]
    if isinstance(event, SafetyAlarm):
        code = event.municipality
    elif isinstance(event, TransportRequest):
        code = event.pickup.municipality
    elif isinstance(event, Call116117):
        code = event.municipality
    else:  # pragma: no cover - KINDS and this function change together
        return Rejection(Reason.UNKNOWN_KIND, f"no normaliser for {type(event).__name__}")
    muni = registry.municipality(code)
    if muni is None:
        return _unknown(code)
    if isinstance(event, SafetyAlarm):
        return _alarm(event, muni, origin, now)
    if isinstance(event, TransportRequest):
        return [_transport(event, muni, origin, now)]
    return _call(event, muni, origin, now)
