"""A routing decision and its explanation, as published on ``tike.decisions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class MatchedCondition(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str
    condition: str
    value: Any


class Decision(BaseModel):
    """Where a need goes and why. ``team_id`` None with ``escalated`` means the control room."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["routing_decision"] = "routing_decision"
    schema_version: Literal[1] = 1
    need_id: str
    region: str
    municipality: str
    decided_at: datetime
    ruleset: str = Field(description="name@version of the ruleset in force")
    rule_id: str | None = Field(description="Matching rule, 'safety-guard', or None")
    guard_reason: str | None = None
    matched: tuple[MatchedCondition, ...] = ()
    requested_service: str | None
    service: str | None = Field(description="Service of the chosen team (after fallbacks)")
    priority: str
    sla_minutes: int
    skills: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    services_tried: tuple[str, ...] = ()
    team_id: str | None = None
    escalated: bool = False
    escalation_reason: str | None = None
    candidates: tuple[dict[str, Any], ...] = ()
    need_partition: int | None = None
    need_offset: int | None = None
    synthetic: bool = False
