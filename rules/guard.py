"""The safety guard: life-threatening signals go to the ambulance at once.

It lives in code, runs before any rule, and no ruleset can change it: Tike is not the 112
emergency service, and whatever an operator writes in a rule file, these needs are handed to
the ambulance/emergency service immediately.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.model import Route
from rules.vocabulary import Priority, Service


@dataclass(frozen=True, slots=True)
class GuardHit:
    reason: str
    field: str
    value: str


#: (field, values, reason): a need whose field holds one of the values is life-threatening.
LIFE_THREATENING: tuple[tuple[str, frozenset[str], str], ...] = (
    ("urgency", frozenset({"A", "B"}), "116117 urgency A/B"),
    ("disposition", frozenset({"ambulance"}), "116117 nurse decided on an ambulance"),
    (
        "operator_assessment",
        frozenset({"unconscious", "not_breathing", "chest_pain", "breathing_difficulty"}),
        "alarm operator found a life-threatening condition",
    ),
    ("alarm_code", frozenset({"smoke"}), "smoke alarm: possible fire"),
    (
        "condition_category",
        frozenset({"chest_pain", "breathing_difficulty"}),
        "transport request for chest pain or breathing difficulty",
    ),
)

GUARD_ROUTE = Route(service=Service.AMBULANCE, priority=Priority.STAT, sla_minutes=1)


def life_threatening(need: Mapping[str, Any]) -> GuardHit | None:
    for field, values, reason in LIFE_THREATENING:
        value = need.get(field)
        if value in values:
            return GuardHit(reason, field, str(value))
    return None
