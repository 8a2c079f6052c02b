"""Records Tike produces: needs, team state, device observations/health, call activity and
dead letters. Like the inputs they are frozen, versioned and timestamped in UTC."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from tike.events import (
    AgeBand,
    AlarmStatus,
    CallPhase,
    ClientFlag,
    ConditionCategory,
    Destination,
    DeviceType,
    Disposition,
    Frozen,
    InfectionStatus,
    Location,
    Mobility,
    OperatorAssessment,
    PickupPlace,
    Shift,
    SymptomCategory,
    TeamAvailability,
    TeamType,
    Urgency,
    UtcDatetime,
)


def stable_id(prefix: str, *parts: str) -> str:
    """Deterministic id: the same inputs always give the same id (idempotent effects)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=10).digest()
    return f"{prefix}-{base64.b32encode(digest).decode().lower().rstrip('=')}"


class NeedSource(StrEnum):
    SAFETY_ALARM = "safety_alarm"
    TRANSPORT_REQUEST = "transport_request"
    CALL_116117 = "call_116117"
    DEVICE_SUPERVISION = "device_supervision"


class Origin(Frozen):
    """Where a record came from: the input event and its Kafka coordinates."""

    event_id: str
    topic: str
    partition: int | None = None
    offset: int | None = None


class UnplannedNeed(Frozen):
    """One unplanned service need, normalised from any input. Keyed by region on tike.needs.

    The flat optional fields are the vocabulary the routing rules match on.
    """

    kind: Literal["unplanned_need"] = "unplanned_need"
    schema_version: Literal[1] = 1
    need_id: str
    region: str
    municipality: str
    source: NeedSource
    occurred_at: UtcDatetime
    received_at: UtcDatetime
    origin: Origin
    synthetic: bool = False
    client: str | None = None
    age_band: AgeBand | None = None
    client_flags: frozenset[ClientFlag] = frozenset()
    location: Location = Field(default_factory=Location)
    # safety alarms and device supervision
    device_id: str | None = None
    device_type: DeviceType | None = None
    alarm_code: AlarmStatus | Literal["device_silent"] | None = None
    operator_assessment: OperatorAssessment | None = None
    # transport requests
    transport_request_id: str | None = None
    transport_origin: PickupPlace | None = None
    transport_destination: Destination | None = None
    condition_category: ConditionCategory | None = None
    mobility: Mobility | None = None
    infection_status: InfectionStatus | None = None
    pickup_earliest: UtcDatetime | None = None
    pickup_latest: UtcDatetime | None = None
    requesting_unit: str | None = None
    # 116117
    call_id: str | None = None
    urgency: Urgency | None = None
    disposition: Disposition | None = None
    symptom_category: SymptomCategory | None = None


class CallActivity(Frozen):
    """One phase of a 116117 call, for call-volume KPIs. Keyed by region on tike.calls."""

    kind: Literal["call_activity"] = "call_activity"
    schema_version: Literal[1] = 1
    call_id: str
    region: str
    municipality: str
    phase: CallPhase
    occurred_at: UtcDatetime
    urgency: Urgency | None = None
    disposition: Disposition | None = None
    need_id: str | None = None
    synthetic: bool = False


class TeamState(Frozen):
    """A team's latest reported state. Keyed by region on tike.team-state."""

    kind: Literal["team_state"] = "team_state"
    schema_version: Literal[1] = 1
    team_id: str
    region: str
    team_type: TeamType
    status: TeamAvailability
    location: Location = Field(default_factory=Location)
    skills: frozenset[str] = frozenset()
    capacity: int = 1
    shift: Shift | None = None
    coverage: tuple[str, ...]
    reported_at: UtcDatetime
    synthetic: bool = False


class DeviceObservation(Frozen):
    """What an alarm, heartbeat or technical status says about a device. Keyed by device id.

    ``silence_check`` observations are produced by the worker's supervision timer.
    """

    kind: Literal["device_observation"] = "device_observation"
    device_id: str
    controller_id: str
    device_type: DeviceType | None = None
    observed: AlarmStatus | Literal["silence_check"]
    observed_at: UtcDatetime
    region: str
    municipality: str
    client: str | None = None
    location: Location = Field(default_factory=Location)
    age_band: AgeBand | None = None
    client_flags: frozenset[ClientFlag] = frozenset()
    event_id: str | None = None
    synthetic: bool = False


class DeviceCondition(StrEnum):
    OK = "ok"
    LOW_BATTERY = "low_battery"
    FAULT = "technical_fault"
    SILENT = "silent"


class DeviceHealth(Frozen):
    """A device's health, emitted on every change. Keyed by device id on tike.devices."""

    kind: Literal["device_health"] = "device_health"
    schema_version: Literal[1] = 1
    device_id: str
    controller_id: str
    region: str
    municipality: str
    condition: DeviceCondition
    last_seen: UtcDatetime
    low_battery: bool = False
    fault: bool = False
    silent_since: datetime | None = None
    client: str | None = None
    synthetic: bool = False


class DeadLetter(Frozen):
    """An input Tike could not use, with the original bytes and a clear reason."""

    kind: Literal["dead_letter"] = "dead_letter"
    schema_version: Literal[1] = 1
    reason: str = Field(description="Machine-readable reason code, also the metric label.")
    detail: str = Field(description="Human-readable explanation.")
    topic: str
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = None
    value_b64: str | None = None
    size: int
    received_at: UtcDatetime
