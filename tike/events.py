"""Input event contracts: frozen, typed records with an id, a schema version and UTC time.

These models are the single source of truth for the input topics; ``docs/schemas/*.json``
is generated from them (``tike schemas --write docs/schemas``). Personal data is minimised:
clients appear only as pseudonyms, never by name or personal identity code.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from tike import pii

SCHEMA_VERSION = 1


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _not_a_number(value: object) -> object:
    """A time is an ISO 8601 string: a bare number (read as seconds since 1970) is refused."""
    if isinstance(value, int | float | bool):
        raise ValueError("must be an ISO 8601 date-time with a time zone, not a number")
    return value


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_to_utc)]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,64}$")]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
#: The one pattern of team, need, dispatch and region ids, checked at every edge (input
#: events, tokens, API paths, the Redis projection): a letter or digit, then up to 63 letters,
#: digits, `.`, `_` or `-`. Never `:` (it separates the parts of Redis keys), `/`, `{`, space
#: or anything beyond ASCII.
ENTITY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ENTITY_ID = re.compile(ENTITY_ID_PATTERN)
EntityId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]


#: Who acts: the subject of a token, a person or device (a user id or an e-mail address).
SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,119}$"
Subject = Annotated[str, StringConstraints(pattern=SUBJECT_PATTERN)]


def is_entity_id(value: object) -> bool:
    """True if ``value`` is a valid team, need, dispatch or region id."""
    return isinstance(value, str) and _ENTITY_ID.fullmatch(value) is not None


def entity_id(value: object, what: str = "id") -> str:
    """``value`` if it is a valid entity id; ValueError naming ``what`` otherwise."""
    if not is_entity_id(value):
        raise ValueError(
            f"{what} {str(value)[:80]!r} is not a valid id: 1-64 of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    assert isinstance(value, str)
    return value


_HETU = re.compile(r"^\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]$", re.IGNORECASE)


def _not_hetu(value: str) -> str:
    if _HETU.match(value):
        raise ValueError("looks like a personal identity code (HETU); send a pseudonym")
    return value


#: A client pseudonym: an opaque id issued by the source system; never a name or HETU.
Pseudonym = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{6,64}$"), AfterValidator(_not_hetu)
]
MunicipalityCode = Annotated[str, StringConstraints(pattern=r"^\d{3}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class AgeBand(StrEnum):
    CHILD = "0-17"
    ADULT = "18-64"
    OLD_65 = "65-74"
    OLD_75 = "75-84"
    OLD_85 = "85+"


class ClientFlag(StrEnum):
    HOME_HOSPITAL = "home_hospital_patient"
    PALLIATIVE = "palliative"
    HOME_CARE = "home_care_client"
    MEMORY_DISORDER = "memory_disorder"
    LIVES_ALONE = "lives_alone"


class Location(Frozen):
    """A named place (``kitchen``) and/or WGS84 coordinates."""

    place: ShortText | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)

    @model_validator(mode="after")
    def _both_or_neither(self) -> Location:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same characters in UTF-8, and the backslash of any escape (which can spell them).
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f\\]|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")

#: Validation context key: the dict comes from JSON text that :func:`screened` cleared, so
#: the per-string checks of :class:`EventBase` would find nothing (tike_core/decode.py).
SCREENED = "tike.screened"


def screened(raw: bytes) -> bool:
    """True if no string or key of the JSON text ``raw`` can hold an identity code or a
    control character: the walks over the decoded strings can be skipped."""
    return not pii.raw_may_hold_code(raw) and _CONTROL_BYTES.search(raw) is None


def _control_chars_in(obj: object, path: str = "", depth: int = 0) -> str | None:
    """The path of the first string (or key) holding a control character; None if none."""
    if isinstance(obj, str):
        return (path or "(record)") if _CONTROL.search(obj) else None
    if depth > 64:
        return None
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(key, str) and _CONTROL.search(key):
                return (path + "." if path else "") + "(a key)"
            found = _control_chars_in(value, f"{path}.{key}" if path else str(key), depth + 1)
            if found:
                return found
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            found = _control_chars_in(value, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


class EventBase(Frozen):
    @model_validator(mode="before")
    @classmethod
    def _no_identity_codes(cls, data: object, info: ValidationInfo) -> object:
        """No string anywhere in an input event may hold a personal identity code or a
        control character (which could forge log lines or hide text on the board). Skipped
        for a dict decoded from JSON text that :func:`screened` cleared."""
        if isinstance(data, dict) and not (info.context and info.context.get(SCREENED)):
            found = pii.find_in(data)
            if found is not None:
                raise ValueError(
                    f"{found} holds a Finnish personal identity code; send a client "
                    "pseudonym instead"
                )
            found = _control_chars_in(data)
            if found is not None:
                raise ValueError(f"{found} holds a control character")
        return data

    event_id: EventId = Field(description="Unique id from the source; redelivery keeps it.")
    schema_version: Literal[1] = Field(1, description="Contract version (SCHEMA_VERSION).")
    occurred_at: UtcDatetime = Field(description="When it happened (timezone-aware, kept in UTC).")
    source: Ident = Field(description="Producing system, e.g. `scaip-centre-ep`.")
    synthetic: bool = Field(False, description="Generated by a simulator; KPIs can exclude it.")
    scenario_time: UtcDatetime | None = Field(
        None,
        description="Simulators only: the time on the scenario's clock (which `--time-scale` "
        "runs faster than real time). `occurred_at` is always the real time the event was "
        "produced; Tike reads only `occurred_at`.",
    )


# --- tike.in.alarms -------------------------------------------------------------------------


class DeviceType(StrEnum):
    PENDANT = "pendant"
    FALL_SENSOR = "fall_sensor"
    SMOKE = "smoke_detector"
    DOOR = "door_sensor"
    BED = "bed_sensor"
    BASE_UNIT = "base_unit"


class AlarmStatus(StrEnum):
    HELP_BUTTON = "help_button"
    FALL_DETECTED = "fall_detected"
    NO_ACTIVITY = "no_activity"
    DOOR_BED = "door_bed"
    SMOKE = "smoke"
    LOW_BATTERY = "low_battery"
    TECHNICAL_FAULT = "technical_fault"
    HEARTBEAT = "heartbeat"


#: Statuses that report on the device, not on the client: they never create a need.
DEVICE_STATUSES = frozenset(
    {AlarmStatus.HEARTBEAT, AlarmStatus.LOW_BATTERY, AlarmStatus.TECHNICAL_FAULT}
)


class OperatorAssessment(StrEnum):
    """What the alarm-centre operator found when speaking to the client (if they could)."""

    FALSE_ALARM = "false_alarm"
    NO_INJURY = "no_injury"
    MINOR_INJURY = "minor_injury"
    NEEDS_HELP = "needs_help"
    ACUTE_ILLNESS = "acute_illness"
    NO_ANSWER = "no_answer"
    CHEST_PAIN = "chest_pain"
    BREATHING_DIFFICULTY = "breathing_difficulty"
    UNCONSCIOUS = "unconscious"
    NOT_BREATHING = "not_breathing"


class SafetyAlarm(EventBase):
    """A home-care safety alarm (turvapuhelin) in the style of SCAIP / CLC/TS 50134-9."""

    kind: Literal["safety_alarm"] = "safety_alarm"
    controller_id: Ident = Field(description="SCAIP controller (base unit) id.")
    device_id: Ident = Field(description="SCAIP device id.")
    device_type: DeviceType
    device_component: Ident = Field(description="Component of the device, e.g. `button1`.")
    status_code: AlarmStatus
    client: Pseudonym | None = Field(None, description="Client pseudonym.")
    municipality: MunicipalityCode
    location: Location = Field(default_factory=Location)
    client_flags: frozenset[ClientFlag] = frozenset()
    age_band: AgeBand | None = None
    operator_assessment: OperatorAssessment | None = None


# --- tike.in.transports ---------------------------------------------------------------------


class PickupPlace(StrEnum):
    HOME = "home"
    CARE_HOME = "care_home"
    HEALTH_CENTRE = "health_centre"


class Destination(StrEnum):
    EMERGENCY_DEPARTMENT = "emergency_department"
    URGENT_CLINIC = "urgent_clinic"
    HOSPITAL_WARD = "hospital_ward"
    HEALTH_CENTRE = "health_centre"
    HOME = "home"
    CARE_HOME = "care_home"


class ConditionCategory(StrEnum):
    FALL_NO_INJURY = "fall_no_injury"
    FALL_INJURY = "fall_injury"
    GENERAL_WEAKNESS = "general_weakness"
    INFECTION_FEVER = "infection_fever"
    CONFUSION = "confusion"
    PAIN = "pain"
    BREATHING_DIFFICULTY = "breathing_difficulty"
    CHEST_PAIN = "chest_pain"
    POST_OPERATIVE = "post_operative"
    PALLIATIVE_CARE = "palliative_care"
    OTHER = "other"


class Mobility(StrEnum):
    WALKING = "walking"
    WHEELCHAIR = "wheelchair"
    STRETCHER = "stretcher"


class InfectionStatus(StrEnum):
    NONE = "none"
    SUSPECTED = "suspected"
    CONFIRMED_CONTACT = "confirmed_contact"
    CONFIRMED_AIRBORNE = "confirmed_airborne"


class Place(Frozen):
    """A pickup or destination place (UCRI2 style: building, floor, room)."""

    municipality: MunicipalityCode
    building: ShortText | None = None
    floor: ShortText | None = None
    room: ShortText | None = None
    location: Location = Field(default_factory=Location)


class TimeWindow(Frozen):
    earliest: UtcDatetime
    latest: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.latest < self.earliest:
            raise ValueError("latest must not be before earliest")
        return self


class TransportRequest(EventBase):
    """A non-urgent ambulance or patient transport request (maps onto FHIR ServiceRequest)."""

    kind: Literal["transport_request"] = "transport_request"
    request_id: Ident
    pickup_place_type: PickupPlace
    pickup: Place
    destination_type: Destination
    destination: ShortText | None = Field(None, description="Named destination unit.")
    pickup_window: TimeWindow
    arrival_time_fixed: bool = Field(False, description="The arrival time is an appointment.")
    condition_category: ConditionCategory
    mobility: Mobility
    infection_status: InfectionStatus = InfectionStatus.NONE
    requesting_unit: Ident
    client: Pseudonym | None = None
    age_band: AgeBand | None = None
    client_flags: frozenset[ClientFlag] = frozenset()


# --- tike.in.calls116117 --------------------------------------------------------------------


class CallPhase(StrEnum):
    STARTED = "started"
    TRIAGED = "triaged"
    ENDED = "ended"


class Urgency(StrEnum):
    """116117 urgency: A and B are life-threatening and always go to 112/ambulance."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class Disposition(StrEnum):
    SELF_CARE = "self_care"
    APPOINTMENT = "appointment"
    URGENT_CLINIC = "urgent_clinic"
    HOME_VISIT_NEEDED = "home_visit_needed"
    EMERGENCY_DEPARTMENT = "emergency_department"
    AMBULANCE = "ambulance"


class SymptomCategory(StrEnum):
    FEVER_INFECTION = "fever_infection"
    RESPIRATORY = "respiratory"
    CHEST_PAIN = "chest_pain"
    ABDOMINAL = "abdominal"
    INJURY_FALL = "injury_fall"
    NEUROLOGICAL = "neurological"
    MENTAL_HEALTH = "mental_health"
    MEDICATION = "medication"
    GENERAL_DETERIORATION = "general_deterioration"
    OTHER = "other"


class Call116117(EventBase):
    """One phase of a 116117 helpline call: started, triaged or ended."""

    kind: Literal["call_116117"] = "call_116117"
    call_id: Ident
    phase: CallPhase
    caller_age_band: AgeBand | None = None
    municipality: MunicipalityCode
    symptom_category: SymptomCategory | None = None
    urgency: Urgency | None = None
    disposition: Disposition | None = None
    client: Pseudonym | None = None
    client_flags: frozenset[ClientFlag] = frozenset()
    location: Location = Field(default_factory=Location)

    @model_validator(mode="after")
    def _triage_complete(self) -> Call116117:
        if self.phase is CallPhase.TRIAGED and (self.urgency is None or self.disposition is None):
            raise ValueError("a triaged call needs both urgency and disposition")
        return self


# --- tike.in.team-status --------------------------------------------------------------------


class TeamType(StrEnum):
    HOME_HOSPITAL = "home_hospital"
    MOBILE_DOCTOR = "mobile_doctor"
    MOBILE_NURSE = "mobile_nurse"
    HOME_CARE = "home_care"
    SAFETY_RESPONDER = "safety_responder"
    SOCIAL_ON_CALL = "social_on_call"
    PHONE_ADVICE = "phone_advice"
    AMBULANCE = "ambulance_emergency"


class TeamAvailability(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    BREAK = "break"
    OFF_DUTY = "off_duty"
    OFFLINE = "offline"


class Shift(Frozen):
    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Shift:
        if self.end <= self.start:
            raise ValueError("shift end must be after its start")
        return self


class TeamStatus(EventBase):
    """A mobile team's reported status, position, skills, capacity and shift."""

    kind: Literal["team_status"] = "team_status"
    team_id: EntityId
    team_type: TeamType
    status: TeamAvailability
    location: Location = Field(default_factory=Location)
    skills: frozenset[Ident] = frozenset()
    capacity: int = Field(1, ge=0, le=50, description="Tasks the team can hold at once.")
    shift: Shift | None = None
    coverage: tuple[MunicipalityCode, ...] = Field(
        min_length=1, description="Municipalities served; the first is the home base."
    )


# --- tike.in.team-events -------------------------------------------------------------------


class TeamAction(StrEnum):
    """What a mobile team does with a dispatch (FHIR Task transitions)."""

    RECEIVED = "received"  # delivery receipt from the team's device
    ACCEPT = "accept"
    DECLINE = "decline"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETE = "complete"
    FAIL = "fail"


class Outcome(StrEnum):
    """How a need ended, for the region's KPIs."""

    RESOLVED_AT_HOME = "resolved_at_home"
    URGENT_CLINIC = "urgent_clinic"
    EMERGENCY_DEPARTMENT = "emergency_department"
    AMBULANCE = "ambulance"
    NO_NEED = "no_need"


class TeamEvent(EventBase):
    """A mobile team's action on a dispatch offered to it."""

    kind: Literal["team_event"] = "team_event"
    team_id: EntityId
    dispatch_id: EntityId
    region: EntityId = Field(description="The region of the dispatch (echoed from the offer).")
    action: TeamAction
    outcome: Outcome | None = Field(None, description="With `complete`: how the need ended.")
    reason: ShortText | None = Field(None, description="With `decline` or `fail`.")
    location: Location = Field(default_factory=Location)


# --- tike.in.control ------------------------------------------------------------------------


class ControlCommand(StrEnum):
    REASSIGN = "reassign"
    CLOSE = "close"
    ACKNOWLEDGE = "acknowledge"


class ControlAction(EventBase):
    """A control-room action on a need: reassign it to a team, close it, or acknowledge its
    alert. Every action names who did it; reassign and close also say why (an acknowledgement
    may have no reason: it says the alert was seen)."""

    kind: Literal["control_action"] = "control_action"
    region: EntityId
    need_id: EntityId
    command: ControlCommand
    actor: Subject = Field(
        description="Who acted: the subject of their token (a user id or e-mail address)."
    )
    actor_role: Literal["control_room", "admin"] | None = Field(
        None, description="The role of the actor's token (set by the gateway)."
    )
    reason: ShortText | None = Field(
        None,
        description="Why; kept in the need's timeline and the audit log. Required with "
        "`reassign` and `close`; optional with `acknowledge`.",
    )
    team_id: EntityId | None = Field(None, description="With `reassign`: the new team.")
    outcome: Outcome | None = Field(None, description="With `close`: how the need ended.")

    @model_validator(mode="after")
    def _arguments(self) -> ControlAction:
        if self.command is ControlCommand.REASSIGN and self.team_id is None:
            raise ValueError("reassign needs team_id")
        if self.command is not ControlCommand.ACKNOWLEDGE and self.reason is None:
            raise ValueError(f"{self.command.value} needs a reason")
        return self


InputEvent = SafetyAlarm | TransportRequest | Call116117 | TeamStatus | TeamEvent | ControlAction

#: Input topic kind -> model. The ``kind`` field of a record must match its topic.
KINDS: dict[str, type[EventBase]] = {
    "safety_alarm": SafetyAlarm,
    "transport_request": TransportRequest,
    "call_116117": Call116117,
    "team_status": TeamStatus,
    "team_event": TeamEvent,
    "control_action": ControlAction,
}


def utcnow() -> datetime:
    return datetime.now(UTC)
