from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rules.engine import Router
from tike import topics
from tike_core.situation.machine import Record, Situation, Timing, empty_state
from tike_core.testing import check_contract, journaled

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROUTER = Router.default()
_offsets: dict[str, int] = {}


def cause(topic: str) -> dict[str, Any]:
    _offsets[topic] = _offsets.get(topic, -1) + 1
    return {"topic": topic, "partition": 0, "offset": _offsets[topic]}


def team(team_id: str, lat: float = 62.79, **kw: Any) -> dict[str, Any]:
    base = {
        "team_id": team_id,
        "region": "etela-pohjanmaa",
        "team_type": "safety_responder",
        "status": "available",
        "location": {"lat": lat, "lon": 22.84},
        "skills": ["lifting"],
        "capacity": 1,
        "shift": None,
        "coverage": ["743"],
        "reported_at": T0.isoformat(),
        "synthetic": False,
    }
    base.update(kw)
    return base


def fall(need_id: str = "need-1", **kw: Any) -> dict[str, Any]:
    base = {
        "need_id": need_id,
        "region": "etela-pohjanmaa",
        "municipality": "743",
        "source": "safety_alarm",
        "alarm_code": "fall_detected",
        "operator_assessment": "no_injury",
        "occurred_at": T0.isoformat(),
        "client_flags": [],
        "location": {"lat": 62.79, "lon": 22.84},
    }
    base.update(kw)
    return base


class Harness:
    def __init__(self, **timing: Any) -> None:
        self.sit = Situation(lambda: ROUTER, Timing(**timing))
        self.journal: list[Record] = []
        self.now = T0

    def _keep(self, record: Record | None) -> Record | None:
        if record is not None:
            self.journal.append(copy.deepcopy(record))
            for item in journaled(record, "k", 0):  # every output keeps its contract
                check_contract(item)
        return record

    def teams(self, *teams: dict[str, Any]) -> None:
        for t in teams:
            self._keep(self.sit.on_team_state(t, self.now, cause(topics.TEAM_STATE)))

    def need(self, need: dict[str, Any]) -> Record | None:
        return self._keep(self.sit.on_need(need, self.now, cause(topics.INTAKE)))

    def act(
        self,
        team_id: str,
        action: str,
        need_id: str = "need-1",
        dispatch_id: str | None = None,
        **kw: Any,
    ) -> Record | None:
        d_id = dispatch_id or self.sit.state["needs"][need_id]["dispatch"]["dispatch_id"]
        ev = {
            "kind": "team_event",
            "event_id": f"e-{len(self.journal)}",
            "team_id": team_id,
            "dispatch_id": d_id,
            "action": action,
            **kw,
        }
        return self._keep(self.sit.on_team_event(ev, self.now, cause(topics.REGION_COMMANDS)))

    def control(self, command: str, need_id: str = "need-1", **kw: Any) -> Record | None:
        ev = {
            "kind": "control_action",
            "event_id": f"c-{len(self.journal)}",
            "region": "etela-pohjanmaa",
            "need_id": need_id,
            "command": command,
            "actor": "op1",
            "reason": "test",
            **kw,
        }
        return self._keep(self.sit.on_control(ev, self.now, cause(topics.REGION_COMMANDS)))

    def tick(self, after_s: float) -> Record | None:
        self.now = self.now + timedelta(seconds=after_s)
        return self._keep(self.sit.on_tick(self.now, cause(topics.REGION_COMMANDS)))

    def need_state(self, need_id: str = "need-1") -> dict[str, Any]:
        return self.sit.state["needs"][need_id]

    def outputs(self, topic: str, kind: str | None = None) -> list[dict[str, Any]]:
        values = [o["value"] for r in self.journal for o in r["outputs"] if o["topic"] == topic]
        return [v for v in values if kind is None or v.get("kind") == kind]


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.teams(team("near", 62.79), team("far", 62.60))
    return harness


def test_need_is_offered_to_the_nearest_team(h: Harness) -> None:
    h.need(fall())
    n = h.need_state()
    assert n["phase"] == "offered" and n["dispatch"]["team_id"] == "near"
    assert n["owner"] == {"kind": "control_room", "team_id": None}
    (offer,) = h.outputs(topics.DISPATCHES, "dispatch")
    assert offer["status"] == "requested" and offer["team_id"] == "near"
    assert offer["need"]["alarm_code"] == "fall_detected"
    assert h.outputs(topics.DECISIONS)[0]["rule_id"] == "fall-no-injury"
    assert h.sit.state["teams"]["near"]["active"] == [offer["dispatch_id"]]


def test_full_path_to_completion_releases_the_team_and_counts(h: Harness) -> None:
    h.need(fall())
    for action in ("received", "accept", "en_route", "on_site"):
        h.now += timedelta(seconds=60)
        h.act("near", action)
    assert h.need_state()["owner"] == {"kind": "team", "team_id": "near"}
    assert h.sit.state["teams"]["near"]["status"] == "on_site"
    h.act("near", "complete", outcome="resolved_at_home")
    n = h.need_state()
    assert (n["status"], n["phase"], n["outcome"]) == ("closed", "completed", "resolved_at_home")
    assert [e[1] for e in n["timeline"]] == [
        "received",
        "offered",
        "received",
        "accept",
        "en_route",
        "on_site",
        "complete",
    ]
    t = h.sit.state["teams"]["near"]
    assert t["status"] == "available" and t["active"] == [] and t["current_task"] is None
    statuses = [d["status"] for d in h.outputs(topics.DISPATCHES, "dispatch")]
    assert statuses == [
        "requested",
        "received",
        "accepted",
        "in-progress",
        "in-progress",
        "completed",
    ]
    h.tick(1)
    kpi = next(
        d["data"]
        for d in reversed(h.outputs(topics.BOARD, "board_delta"))
        if d["entity"] == "kpi" and d["id"] == "etela-pohjanmaa"
    )
    day = kpi["24h"]
    assert day["resolved_at_home"] == 1 and day["share_at_home"] == 1.0
    assert day["offer_to_accept"] == {"median_s": 120.0, "p90_s": 120.0, "n": 1}
    assert day["accept_to_on_site"]["median_s"] == 120.0
    assert kpi["open"] == 0 and day["by_source"] == {"safety_alarm": 1}


def test_decline_reoffers_then_time_out_escalates(h: Harness) -> None:
    h.need(fall())
    h.act("near", "decline", reason="on another task")
    n = h.need_state()
    assert n["dispatch"]["team_id"] == "far" and n["tried"] == ["near"] and n["attempts"] == 2
    h.tick(299)
    assert h.need_state()["phase"] == "offered" and h.need_state()["dispatch"]["team_id"] == "far"
    h.tick(2)  # the urgent offer time-out (300 s) passes
    n = h.need_state()
    assert n["phase"] == "escalated" and n["tried"] == ["near", "far"]
    assert n["owner"] == {"kind": "control_room", "team_id": None}
    assert "no eligible team" in n["alert"]["reason"]
    offers = h.outputs(topics.DISPATCHES, "dispatch")
    assert [(o["team_id"], o["status"]) for o in offers] == [
        ("near", "requested"),
        ("near", "rejected"),
        ("far", "requested"),
        ("far", "cancelled"),
    ]
    assert len({o["dispatch_id"] for o in offers}) == 2


@pytest.mark.parametrize(
    ("team_id", "action", "reason"),
    [
        ("near", "on_site", "cannot on_site a dispatch that is requested"),
        ("near", "complete", "cannot complete a dispatch that is requested"),
        ("far", "accept", "team far does not own dispatch"),
    ],
)
def test_illegal_actions_are_refused_and_state_holds(
    h: Harness, team_id: str, action: str, reason: str
) -> None:
    h.need(fall())
    before = copy.deepcopy(h.need_state()["dispatch"])
    h.act(team_id, action)
    (refusal,) = h.outputs(topics.DISPATCHES, "dispatch_refusal")
    assert reason in refusal["reason"] and refusal["team_id"] == team_id
    assert h.need_state()["dispatch"] == before
    assert h.need_state()["timeline"][-1][1] == "refused"


def test_unknown_and_superseded_dispatches_are_refused(h: Harness) -> None:
    h.need(fall())
    old = h.need_state()["dispatch"]["dispatch_id"]
    h.act("near", "decline")
    h.act("near", "accept", dispatch_id=old)
    h.act("near", "accept", dispatch_id="dsp-nope")
    reasons = [r["reason"] for r in h.outputs(topics.DISPATCHES, "dispatch_refusal")]
    assert reasons == [f"dispatch {old} is no longer active", "unknown dispatch dsp-nope"]


def test_control_room_reassigns_acknowledges_and_closes(h: Harness) -> None:
    h.teams(team("other", 62.7))
    h.need(fall())
    h.control("reassign", team_id="other")
    n = h.need_state()
    assert n["dispatch"]["team_id"] == "other" and "near" in n["tried"]
    cancelled = h.outputs(topics.DISPATCHES, "dispatch")[1]
    assert cancelled["status"] == "cancelled" and "reassigned by op1" in cancelled["reason"]
    h.control("close", outcome="no_need")
    n = h.need_state()
    assert (n["status"], n["outcome"], n["closed_by"]) == ("closed", "no_need", "op1")
    h.control("close")
    notice = h.outputs(topics.BOARD, "board_delta")[-1]
    assert notice["entity"] == "notice" and "already closed" in notice["data"]["message"]


def test_sla_overdue_is_flagged_once(h: Harness) -> None:
    h.need(fall())
    h.act("near", "accept")
    h.tick(46 * 60)
    assert h.need_state()["overdue"] is True
    h.tick(60)
    assert sum(1 for e in h.need_state()["timeline"] if e[1] == "overdue") == 1


def test_no_team_at_all_goes_to_the_control_room_at_once() -> None:
    h = Harness()
    h.need(fall())
    n = h.need_state()
    assert n["phase"] == "escalated" and n["alert"]["acknowledged_by"] is None
    h.control("acknowledge")
    assert h.need_state()["alert"]["acknowledged_by"] == "op1"


def test_duplicate_need_is_ignored(h: Harness) -> None:
    assert h.need(fall()) is not None
    assert h.need(fall()) is None


def test_replaying_the_journal_rebuilds_the_same_state(h: Harness) -> None:
    h.teams(team("other", 62.7))
    h.need(fall())
    h.need(fall("need-2", operator_assessment="acute_illness"))
    h.act("near", "accept")
    h.act("near", "en_route")
    assert h.need_state("need-2")["phase"] == "escalated"  # no nurse or doctor teams
    h.act("far", "decline", need_id="need-1")  # refused: not far's dispatch
    h.tick(400)
    h.control("close", need_id="need-2")
    replay = Situation(lambda: ROUTER, Timing(), empty_state())
    for record in h.journal:
        replay.apply(copy.deepcopy(record))
    live = {k: v for k, v in h.sit.state.items() if k != "calls"}
    assert {k: v for k, v in replay.state.items() if k != "calls"} == live
    assert replay.redelivered(topics.INTAKE, {"need_id": "need-2"})
    assert not replay.redelivered(topics.INTAKE, {"need_id": "need-3"})
    acted = [r["events"] for r in h.journal if r.get("events")]
    assert acted and all(
        replay.redelivered(topics.REGION_COMMANDS, {"event_id": e})
        for events in acted
        for e in events
    )
    assert not replay.redelivered(topics.REGION_COMMANDS, {"event_id": "never-seen"})


def test_old_closed_needs_are_pruned_with_a_remove_delta(h: Harness) -> None:
    h.need(fall())
    h.control("close")
    h.tick(86400 + 60)
    assert "need-1" not in h.sit.state["needs"]
    removed = [d for d in h.outputs(topics.BOARD, "board_delta") if d["op"] == "remove"]
    assert [d["id"] for d in removed] == ["need-1"]


def test_redeliveries_are_recognised_by_content_not_offset(h: Harness) -> None:
    h.need(fall())
    dispatch_id = h.need_state()["dispatch"]["dispatch_id"]
    accept = {
        "kind": "team_event",
        "event_id": "e-accept",
        "team_id": "near",
        "dispatch_id": dispatch_id,
        "action": "accept",
    }
    assert h.sit.on_team_event(accept, h.now, cause(topics.REGION_COMMANDS)) is not None
    # The same event again (a redelivery after a rebalance) is recognised before it could
    # be refused as an illegal accept-after-accept.
    assert h.sit.redelivered(topics.REGION_COMMANDS, accept)
    assert not h.sit.redelivered(topics.REGION_COMMANDS, {**accept, "event_id": "e-other"})
    assert h.sit.redelivered(topics.INTAKE, fall())
    call = {
        "call_id": "call-1",
        "phase": "started",
        "occurred_at": T0.isoformat(),
        "municipality": "743",
        "region": "etela-pohjanmaa",
    }
    assert not h.sit.redelivered(topics.CALLS, call)
    assert h.sit.on_call(call, h.now, cause(topics.CALLS)) is not None
    assert h.sit.redelivered(topics.CALLS, call)
    assert h.sit.redelivered(topics.TEAM_STATE, team("near"))  # the same report again
    later = team("near", reported_at=(T0 + timedelta(seconds=5)).isoformat())
    assert not h.sit.redelivered(topics.TEAM_STATE, later)
    # An input that arrives after later ones (offsets out of order) is still applied.
    h.need(fall("need-9"))
    assert not h.sit.redelivered(topics.INTAKE, fall("need-8"))
    # Pruned with the history: event ids older than 24 h are forgotten.
    h.tick(86400 + 60)
    assert not h.sit.redelivered(topics.REGION_COMMANDS, accept)
    assert not h.sit.redelivered(topics.CALLS, call)


def _board_need(h: Harness, need_id: str = "need-1") -> dict[str, Any]:
    """The newest board entry of a need, as the board receives it."""
    return next(
        d["data"]
        for d in reversed(h.outputs(topics.BOARD, "board_delta"))
        if d["entity"] == "need" and d["id"] == need_id
    )


def test_completed_dispatch_keeps_no_business_status(h: Harness) -> None:
    h.need(fall())
    for action in ("accept", "en_route", "on_site"):
        h.act("near", action)
    assert _board_need(h)["business_status"] == "on-site"
    h.act("near", "complete", outcome="resolved_at_home")
    d = h.need_state()["dispatch"]
    assert (d["status"], d["business_status"]) == ("completed", None)
    view = _board_need(h)
    assert (view["dispatch_status"], view["business_status"]) == ("completed", None)
    last = h.outputs(topics.DISPATCHES, "dispatch")[-1]
    assert (last["status"], last["business_status"]) == ("completed", None)


def test_a_dispatch_ended_on_site_keeps_no_business_status(h: Harness) -> None:
    h.teams(team("other", 62.7))
    h.need(fall())
    for action in ("accept", "on_site"):
        h.act("near", action)
    h.control("reassign", team_id="other")
    ended = [o for o in h.outputs(topics.DISPATCHES, "dispatch") if o["team_id"] == "near"][-1]
    assert (ended["status"], ended["business_status"]) == ("cancelled", None)


def test_board_entry_says_whom_to_call(h: Harness) -> None:
    h.need(fall(client="asiakas-7f3a", device_id="dev-0042"))
    view = _board_need(h)
    assert view["client"] == "asiakas-7f3a" and view["device_id"] == "dev-0042"
    assert view["call_id"] is None and view["transport_request_id"] is None
    h.need(fall("need-2", source="call_116117", alarm_code=None, call_id="call-99"))
    assert _board_need(h, "need-2")["call_id"] == "call-99"
    h.need(fall("need-3", source="transport_request", alarm_code=None, transport_request_id="tr-5"))
    assert _board_need(h, "need-3")["transport_request_id"] == "tr-5"


def test_a_refused_control_action_is_a_notice_placed_at_its_need(h: Harness) -> None:
    h.need(fall())
    h.control("reassign", team_id="nobody")
    notice = h.outputs(topics.BOARD, "board_delta")[-1]
    assert notice["entity"] == "notice" and notice["data"]["level"] == "error"
    data = notice["data"]
    assert data["need_id"] == "need-1" and data["command"] == "reassign"
    assert data["message"] == "unknown team nobody" and data["actor"] == "op1"
    assert h.need_state()["dispatch"]["team_id"] == "near"  # nothing changed


def test_acknowledge_without_a_reason_records_only_who(h: Harness) -> None:
    solo = Harness()
    solo.need(fall())  # no teams: escalated at once
    solo.control("acknowledge", reason=None)
    n = solo.need_state()
    assert n["alert"]["acknowledged_by"] == "op1"
    assert n["timeline"][-1][1:] == ["acknowledged", "op1"]


def test_kpis_are_recomputed_at_most_once_per_kpi_interval() -> None:
    h = Harness(kpi_interval_s=5)

    def kpi_open() -> list[int]:
        deltas = h.outputs(topics.BOARD, "board_delta")
        return [d["data"]["open"] for d in deltas if d["id"] == "etela-pohjanmaa"]

    h.need(fall("need-a"))
    h.tick(1)  # the first KPI computation
    assert kpi_open() == [1]
    h.need(fall("need-b"))
    h.tick(1)
    h.tick(1)
    assert kpi_open() == [1], "recomputed before the interval passed"
    h.tick(3)  # 5 s after the first computation
    assert kpi_open() == [1, 2]
