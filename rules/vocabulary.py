"""The vocabulary rules may use: every field a condition can test, its finite domain of values,
and which need sources carry it. One table drives validation, compilation, dead-rule analysis
and the JSON Schema the rules editor reads.

Every domain is finite (times are minutes of the day, client flags are the 32 possible flag
combinations), so a condition is a bitmask over its field's domain and the analysis is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from tike.events import (
    AgeBand,
    ClientFlag,
    ConditionCategory,
    Destination,
    DeviceType,
    Disposition,
    InfectionStatus,
    Mobility,
    OperatorAssessment,
    PickupPlace,
    SymptomCategory,
    TeamType,
    Urgency,
)
from tike.records import NeedSource
from tike.regions import Registry

Kind = Literal["enum", "flags", "time", "weekday"]
ALL_SOURCES = frozenset(NeedSource)
ALARMISH = frozenset({NeedSource.SAFETY_ALARM, NeedSource.DEVICE_SUPERVISION})
HELP_ALARM_CODES = (
    "help_button",
    "fall_detected",
    "no_activity",
    "door_bed",
    "smoke",
    "device_silent",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FLAG_NAMES = tuple(f.value for f in ClientFlag)
MINUTES = 24 * 60


class Service(StrEnum):
    """Target services a route can name (the team types that respond)."""

    HOME_HOSPITAL = TeamType.HOME_HOSPITAL.value
    MOBILE_DOCTOR = TeamType.MOBILE_DOCTOR.value
    MOBILE_NURSE = TeamType.MOBILE_NURSE.value
    HOME_CARE = TeamType.HOME_CARE.value
    SAFETY_RESPONDER = TeamType.SAFETY_RESPONDER.value
    SOCIAL_ON_CALL = TeamType.SOCIAL_ON_CALL.value
    PHONE_ADVICE = TeamType.PHONE_ADVICE.value
    AMBULANCE = TeamType.AMBULANCE.value


class Priority(StrEnum):
    """FHIR Task priority, lowest first."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    #: Values a condition may name (index = bit). For ``flags`` the flag names.
    values: tuple[str, ...]
    #: Sources whose needs carry the field; on others it is absent (None).
    sources: frozenset[NeedSource]
    #: The field may be absent even on its own sources.
    optional: bool
    description: str
    #: Values are ordered (``gte``/``lte`` allowed).
    ordered: bool = False

    @property
    def size(self) -> int:
        """Number of domain points (values plus one for 'absent' where it can occur)."""
        if self.kind == "flags":
            return 1 << len(self.values)
        if self.kind == "time":
            return MINUTES
        return len(self.values) + 1  # last index: absent

    @property
    def absent(self) -> int:
        return len(self.values)

    @property
    def full(self) -> int:
        return (1 << self.size) - 1


def _enum(
    name: str,
    values: tuple[str, ...],
    sources: frozenset[NeedSource],
    description: str,
    optional: bool = False,
    ordered: bool = False,
) -> Field:
    return Field(name, "enum", values, sources, optional, description, ordered)


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


def build_fields(registry: Registry) -> dict[str, Field]:
    """The vocabulary; municipality and region values come from the region data."""
    munis = tuple(sorted(registry.municipalities))
    regions = tuple(sorted(registry.regions))
    t, c = frozenset({NeedSource.TRANSPORT_REQUEST}), frozenset({NeedSource.CALL_116117})
    fields = [
        _enum("source", _values(NeedSource), ALL_SOURCES, "Where the need came from."),
        _enum("alarm_code", HELP_ALARM_CODES, ALARMISH, "Safety-alarm status code."),
        _enum("device_type", _values(DeviceType), ALARMISH, "Alarm device type.", True),
        _enum(
            "operator_assessment",
            _values(OperatorAssessment),
            frozenset({NeedSource.SAFETY_ALARM}),
            "Alarm operator's assessment after speaking with the client.",
            True,
        ),
        _enum("urgency", _values(Urgency), c, "116117 urgency (A most urgent).", ordered=True),
        _enum("disposition", _values(Disposition), c, "116117 triage disposition."),
        _enum("symptom_category", _values(SymptomCategory), c, "116117 symptom.", True),
        _enum("transport_origin", _values(PickupPlace), t, "Where the transport starts."),
        _enum("transport_destination", _values(Destination), t, "Transport destination."),
        _enum("condition_category", _values(ConditionCategory), t, "Transport condition."),
        _enum("mobility", _values(Mobility), t, "Patient mobility."),
        _enum("infection_status", _values(InfectionStatus), t, "Infection status."),
        _enum("age_band", _values(AgeBand), ALL_SOURCES, "Client age band.", True, True),
        _enum("municipality", munis, ALL_SOURCES, "Municipality code."),
        _enum("region", regions, ALL_SOURCES, "Region (wellbeing services county) id."),
        Field(
            "client_flags",
            "flags",
            FLAG_NAMES,
            ALL_SOURCES,
            False,
            "Client flags; test with any_of, all_of or none_of.",
        ),
        Field(
            "time_of_day",
            "time",
            (),
            ALL_SOURCES,
            False,
            "Local time when the need occurred, as ranges 'HH:MM-HH:MM' (may wrap midnight).",
        ),
        Field("weekday", "weekday", WEEKDAYS, ALL_SOURCES, False, "Local weekday."),
    ]
    return {f.name: f for f in fields}


def flag_combos_with(field: Field, flags: set[str], mode: str) -> int:
    """Bitmask of the flag combinations that satisfy ``mode`` over ``flags``."""
    wanted = sum(1 << field.values.index(f) for f in flags)
    mask = 0
    for combo in range(field.size):
        if mode == "any_of":
            ok = bool(combo & wanted)
        elif mode == "all_of":
            ok = combo & wanted == wanted
        else:  # none_of
            ok = not combo & wanted
        if ok:
            mask |= 1 << combo
    return mask


def vocabulary_schema(fields: dict[str, Field]) -> dict[str, object]:
    """JSON Schema of a rule file, with the vocabulary, for the rules editor."""
    field_schemas: dict[str, object] = {}
    for f in fields.values():
        if f.kind == "enum":
            value = {"enum": list(f.values)}
            ops: dict[str, object] = {
                "in": {"type": "array", "items": value},
                "not": {"type": "array", "items": value},
            }
            if f.ordered:
                ops |= {"gte": value, "lte": value}
            field_schemas[f.name] = {
                "description": f.description,
                "x-sources": sorted(f.sources),
                "anyOf": [
                    value,
                    {"type": "array", "items": value},
                    {"type": "object", "properties": ops, "additionalProperties": False},
                ],
            }
        elif f.kind == "flags":
            items = {"type": "array", "items": {"enum": list(f.values)}}
            field_schemas[f.name] = {
                "description": f.description,
                "type": "object",
                "properties": {"any_of": items, "all_of": items, "none_of": items},
                "additionalProperties": False,
            }
        elif f.kind == "weekday":
            value = {"enum": list(f.values)}
            field_schemas[f.name] = {
                "description": f.description,
                "anyOf": [value, {"type": "array", "items": value}],
            }
        else:
            rng = {"type": "string", "pattern": r"^\d{2}:\d{2}-\d{2}:\d{2}$"}
            field_schemas[f.name] = {
                "description": f.description,
                "anyOf": [rng, {"type": "array", "items": rng}],
            }
    condition = {"type": "object", "properties": field_schemas, "additionalProperties": False}
    route = {
        "type": "object",
        "required": ["service", "priority", "sla_minutes"],
        "additionalProperties": False,
        "properties": {
            "service": {"enum": list(_values(Service))},
            "priority": {"enum": list(_values(Priority))},
            "sla_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
            "skills": {"type": "array", "items": {"type": "string"}},
            "fallback": {"type": "array", "items": {"enum": list(_values(Service))}},
        },
    }
    rule = {
        "type": "object",
        "required": ["id", "route"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,63}$"},
            "description": {"type": "string"},
            "when": condition,
            "unless": condition,
            "route": route,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tike ruleset",
        "type": "object",
        "required": ["ruleset", "version", "rules"],
        "additionalProperties": False,
        "properties": {
            "ruleset": {"type": "string"},
            "version": {"type": "string"},
            "description": {"type": "string"},
            "rules": {"type": "array", "items": rule},
        },
    }
