"""What the situation publishes: the contract of its output topics.

``tike.journal`` (:class:`JournalRecord`), ``tike.board`` (:class:`BoardDelta`),
``tike.dispatches`` (:class:`Dispatch`, :class:`DispatchRefusal`) and ``tike.decisions``
(:class:`Decision`); dead letters and needs are in :mod:`tike.records`. Each is frozen and
carries ``kind`` and ``schema_version``; ``tike schemas`` writes their JSON Schemas into
docs/schemas, and a test checks those files and the models agree. The situation machine
builds these records as plain dicts (the hot path); the stage harness
(:func:`tike_core.testing.run_stage`) validates every record it produces against its model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tike.events import Frozen


class MatchedCondition(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str
    condition: str
    value: Any


class Decision(BaseModel):
    """Where a need goes and why (``tike.decisions``, keyed by region). ``team_id`` None
    with ``escalated`` means the control room."""

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


DispatchStatus = Literal[
    "requested",
    "received",
    "accepted",
    "rejected",
    "in-progress",
    "completed",
    "cancelled",
    "failed",
]


class Dispatch(Frozen):
    """A dispatch as its team sees it (``tike.dispatches``, keyed by team), in FHIR Task
    vocabulary; every change of the dispatch publishes it again with a higher ``version``."""

    kind: Literal["dispatch"] = "dispatch"
    schema_version: Literal[1] = 1
    dispatch_id: str
    version: int = Field(ge=1)
    need_id: str
    region: str
    team_id: str
    status: DispatchStatus
    business_status: Literal["en-route", "on-site"] | None = None
    priority: str
    sla_minutes: int
    due_at: datetime
    offered_at: datetime
    expires_at: datetime | None = None
    reason: str | None = Field(None, description="Why the dispatch changed, in English")
    updated_at: datetime
    need: dict[str, Any] = Field(description="What the team needs to know of the need")
    synthetic: bool = False


class DispatchRefusal(Frozen):
    """A team's action the situation refused (``tike.dispatches``, keyed by team)."""

    kind: Literal["dispatch_refusal"] = "dispatch_refusal"
    schema_version: Literal[1] = 1
    dispatch_id: str | None
    team_id: str | None
    action: str | None
    event_id: str | None
    reason: str = Field(description="Why, in English")
    code: str | None = Field(description="Machine-readable reason (REFUSAL_CODES)")
    status: str | None = Field(description="The dispatch's status when it was refused")
    at: datetime


class BoardDelta(Frozen):
    """One change of the control-room board (``tike.board``, keyed by region): an entity's
    new view (``upsert``) or its removal. Per entity, a higher ``version`` wins."""

    kind: Literal["board_delta"] = "board_delta"
    schema_version: Literal[1] = 1
    region: str
    entity: Literal["need", "team", "kpi", "notice"]
    id: str
    version: int = Field(ge=1)
    op: Literal["upsert", "remove"]
    at: datetime
    data: dict[str, Any] | None = Field(description="The entity's view; None on remove")


class Cause(Frozen):
    """The input record a journal record answers."""

    topic: str
    partition: int
    offset: int


class Output(Frozen):
    """A record to publish once its journal record is on the broker."""

    topic: str
    key: str
    value: dict[str, Any]


class JournalRecord(Frozen):
    """What one input changed in a region partition (``tike.journal``, same partition as the
    input): the full new state of each entity it changed, and the records to publish. A
    rebuild applies the journal in order; ``cause`` None is a timer tick."""

    kind: Literal["journal"] = "journal"
    schema_version: Literal[1] = 1
    cause: Cause | None
    at: datetime
    needs: dict[str, dict[str, Any] | None] = Field(description="need id -> state; None: forget")
    teams: dict[str, dict[str, Any]]
    calls: list[list[str]]
    events: dict[str, str] = Field(description="event id -> time applied (de-duplication)")
    outputs: list[Output]


#: Model of each situation output, by its ``kind``.
SITUATION_OUTPUTS: dict[str, type[BaseModel]] = {
    "journal": JournalRecord,
    "board_delta": BoardDelta,
    "dispatch": Dispatch,
    "dispatch_refusal": DispatchRefusal,
    "routing_decision": Decision,
}
