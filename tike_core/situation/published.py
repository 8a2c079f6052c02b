"""Records the situation publishes: dispatches (FHIR Task vocabulary) and board deltas."""

from __future__ import annotations

from typing import Any

#: FHIR Task status of a dispatch, and which team actions may move it where.
REQUESTED, RECEIVED, ACCEPTED, REJECTED = "requested", "received", "accepted", "rejected"
IN_PROGRESS, COMPLETED, CANCELLED, FAILED = "in-progress", "completed", "cancelled", "failed"
#: Every FHIR Task status a dispatch takes here, and its business statuses (in progress).
DISPATCH_STATUSES = (
    REQUESTED,
    RECEIVED,
    ACCEPTED,
    REJECTED,
    IN_PROGRESS,
    COMPLETED,
    CANCELLED,
    FAILED,
)
BUSINESS_STATUSES = ("en-route", "on-site")
#: A need's phases (the situation machine's states) and its status.
NEED_PHASES = (
    "new",
    "offered",
    "escalated",
    "accepted",
    "en_route",
    "on_site",
    "completed",
    "closed",
)
NEED_STATUSES = ("open", "closed")
#: Why a need was escalated to the control room (its alert's ``code``).
ALERT_NO_RULE, ALERT_NO_TEAM = "no_rule", "no_team"
ALERT_CODES = (ALERT_NO_RULE, ALERT_NO_TEAM)
#: Why a team's action or a control-room action was refused (the record's ``code``).
REFUSE_UNKNOWN_DISPATCH, REFUSE_ENDED = "unknown_dispatch", "dispatch_ended"
REFUSE_NOT_OWNER, REFUSE_NOT_NOW = "not_owner", "not_allowed_now"
REFUSE_UNKNOWN_NEED, REFUSE_NEED_CLOSED, REFUSE_UNKNOWN_TEAM = (
    "unknown_need",
    "need_closed",
    "unknown_team",
)
REFUSAL_CODES = (
    REFUSE_UNKNOWN_DISPATCH,
    REFUSE_ENDED,
    REFUSE_NOT_OWNER,
    REFUSE_NOT_NOW,
    REFUSE_UNKNOWN_NEED,
    REFUSE_NEED_CLOSED,
    REFUSE_UNKNOWN_TEAM,
)
#: What a need's timeline entries say happened.
TIMELINE_EVENTS = (
    "received",
    "offered",
    "escalated",
    "declined",
    "failed",
    "accept",
    "en_route",
    "on_site",
    "complete",
    "refused",
    "acknowledged",
    "reassigned",
    "closed",
    "overdue",
    "offer expired",
)
OPEN_OFFER = frozenset({REQUESTED, RECEIVED})
ACTIVE = frozenset({REQUESTED, RECEIVED, ACCEPTED, IN_PROGRESS})

#: action -> (FHIR statuses it may start from, business statuses it may start from or None).
TRANSITIONS: dict[str, tuple[frozenset[str], frozenset[str | None] | None]] = {
    "received": (frozenset({REQUESTED}), None),
    "accept": (OPEN_OFFER, None),
    "decline": (OPEN_OFFER, None),
    "en_route": (frozenset({ACCEPTED}), None),
    "on_site": (frozenset({ACCEPTED, IN_PROGRESS}), frozenset({None, "en-route"})),
    "complete": (frozenset({IN_PROGRESS}), frozenset({"on-site"})),
    "fail": (frozenset({ACCEPTED, IN_PROGRESS}), None),
}


def illegal(action: str, status: str, business: str | None) -> str | None:
    """Why ``action`` may not happen to a dispatch in this state (None if it may)."""
    allowed, business_allowed = TRANSITIONS[action]
    if status not in allowed or (business_allowed is not None and business not in business_allowed):
        where = f"{status}/{business}" if business else status
        return f"cannot {action} a dispatch that is {where}"
    return None


NEED_SUMMARY_KEYS = (
    "source",
    "municipality",
    "location",
    "alarm_code",
    "operator_assessment",
    "urgency",
    "disposition",
    "symptom_category",
    "condition_category",
    "transport_origin",
    "transport_destination",
    "mobility",
    "infection_status",
    "age_band",
    "client_flags",
    "client",
    "device_id",
)


def dispatch_record(need: dict[str, Any], at: str, reason: str | None = None) -> dict[str, Any]:
    """The dispatch as its team sees it (published on tike.dispatches, keyed by team)."""
    d = need["dispatch"]
    source = need["source_need"]
    return {
        "kind": "dispatch",
        "schema_version": 1,
        "dispatch_id": d["dispatch_id"],
        "version": d["version"],
        "need_id": need["need_id"],
        "region": need["region"],
        "team_id": d["team_id"],
        "status": d["status"],
        "business_status": d.get("business_status"),
        "priority": need["priority"],
        "sla_minutes": need["sla_minutes"],
        "due_at": need["due_at"],
        "offered_at": d["offered_at"],
        "expires_at": d.get("expires_at"),
        "reason": reason,
        "updated_at": at,
        "need": {k: source.get(k) for k in NEED_SUMMARY_KEYS if source.get(k) is not None},
        "synthetic": need.get("synthetic", False),
    }


def refusal_record(
    event: dict[str, Any],
    reason: str,
    at: str,
    code: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """A team action refused: ``reason`` in English, ``code`` (REFUSAL_CODES) and the
    dispatch's ``status`` then, for the team view's own words."""
    return {
        "kind": "dispatch_refusal",
        "schema_version": 1,
        "dispatch_id": event.get("dispatch_id"),
        "team_id": event.get("team_id"),
        "action": event.get("action"),
        "event_id": event.get("event_id"),
        "reason": reason,
        "code": code,
        "status": status,
        "at": at,
    }


#: The source's own id of a need, by source: whom or what the control room calls back.
SOURCE_REF_KEYS = ("device_id", "call_id", "transport_request_id")


def need_view(need: dict[str, Any]) -> dict[str, Any]:
    """What the board shows of a need.

    Besides the routing state it carries whom to call: the client pseudonym (never a name or
    identity code) and the source's own id: the device id of an alarm or a silent device, the
    116117 call id, or the transport request id (``None`` when the source has none).
    """
    d = need.get("dispatch") or {}
    src = need["source_need"]
    return {
        "need_id": need["need_id"],
        "municipality": need["municipality"],
        "source": need["source"],
        "signal": need["signal"],
        "priority": need["priority"],
        "phase": need["phase"],
        "status": need["status"],
        "owner": need["owner"],
        "service": need.get("service"),
        "team_id": d.get("team_id"),
        "dispatch_id": d.get("dispatch_id"),
        "dispatch_status": d.get("status"),
        "business_status": d.get("business_status"),
        "occurred_at": src.get("occurred_at"),
        "received_at": need["received_at"],
        "due_at": need["due_at"],
        "overdue": need["overdue"],
        "alert": need.get("alert"),
        "outcome": need.get("outcome"),
        "client": src.get("client"),
        **{k: src.get(k) for k in SOURCE_REF_KEYS},
        "location": src.get("location"),
        "age_band": src.get("age_band"),
        "client_flags": src.get("client_flags"),
        "explanation": need.get("explanation"),
        "timeline": need["timeline"],
        "synthetic": need.get("synthetic", False),
    }


def team_view(team: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "team_id",
        "team_type",
        "status",
        "reported_status",
        "location",
        "coverage",
        "capacity",
        "skills",
        "current_task",
        "need_id",
        "active",
        "reported_at",
        "synthetic",
    )
    return {k: team.get(k) for k in keys}


def board_delta(
    region: str, entity: str, entity_id: str, version: int, data: dict[str, Any] | None, at: str
) -> dict[str, Any]:
    return {
        "kind": "board_delta",
        "schema_version": 1,
        "region": region,
        "entity": entity,
        "id": entity_id,
        "version": version,
        "op": "upsert" if data is not None else "remove",
        "at": at,
        "data": data,
    }
