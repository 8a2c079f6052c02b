"""The dispatch state machine of one region partition.

Every input (a need, a team report, a 116117 call, a team action, a control-room action, a
timer tick) yields at most one journal record: the full new state of each entity it changed
plus the records to publish. :meth:`Situation.apply` installs a record; the live path and the
rebuild after a restart both go through it, so they cannot diverge. An input whose effects
the state already holds is a redelivery and is skipped (:meth:`Situation.redelivered`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rules.decision import Decision
from rules.engine import Router
from tike import topics
from tike.records import stable_id
from tike_core.situation import published as R
from tike_core.situation.kpi import compute_kpis

State = dict[str, Any]
Record = dict[str, Any]


@dataclass(frozen=True)
class Timing:
    #: Seconds a team has to accept an offer, by FHIR priority.
    offer_timeout_s: dict[str, float] = field(
        default_factory=lambda: {"stat": 60, "asap": 120, "urgent": 300, "routine": 900}
    )
    history_s: float = 86400.0
    timeline_max: int = 40
    kpi_include_synthetic: bool = True
    #: Publish KPI deltas on ticks. A what-if replay (simulators/whatif) computes its KPIs once at
    #: the end and turns this off; nothing else in a tick depends on it.
    publish_kpis: bool = True
    #: Seconds between KPI recomputations (0: every tick). KPIs are rolling 1 h and 24 h
    #: windows over every need held; recomputing them each second cost the live worker tens
    #: of milliseconds per tick with a day of needs (docs/performance.md).
    kpi_interval_s: float = 0.0


def empty_state() -> State:
    return {"needs": {}, "teams": {}, "dispatches": {}, "calls": [], "events": {}}


def _iso(t: datetime) -> str:
    return t.isoformat()


def _at(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _clone_need(n: dict[str, Any]) -> dict[str, Any]:
    c = dict(n)
    for key in ("dispatch", "owner", "alert"):
        if c.get(key) is not None:
            c[key] = dict(c[key])
    c["timeline"] = list(c["timeline"])
    c["tried"] = list(c["tried"])
    return c


class Tx:
    """The changes one input makes, collected before they are applied."""

    def __init__(self, state: State, cause: dict[str, Any] | None, now: datetime) -> None:
        self.state, self.cause, self.now = state, cause, now
        self.at = _iso(now)
        self.needs: dict[str, dict[str, Any] | None] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.calls: list[list[str]] = []
        self.events: dict[str, str] = {}
        self.outputs: list[dict[str, Any]] = []

    def need(self, need_id: str) -> dict[str, Any] | None:
        if need_id in self.needs:
            return self.needs[need_id]
        n = self.state["needs"].get(need_id)
        return _clone_need(n) if n is not None else None

    def put_need(self, n: dict[str, Any]) -> None:
        n["version"] = n.get("version", 0) + 1
        self.needs[n["need_id"]] = n

    def team(self, team_id: str) -> dict[str, Any] | None:
        if team_id in self.teams:
            return self.teams[team_id]
        t = self.state["teams"].get(team_id)
        if t is None:
            return None
        t = dict(t)
        t["active"] = list(t.get("active") or [])
        return t

    def put_team(self, t: dict[str, Any]) -> None:
        t["version"] = t.get("version", 0) + 1
        t["status"] = derived_status(t, self.state, self.needs)
        self.teams[t["team_id"]] = t

    def out(self, topic: str, key: str, value: dict[str, Any]) -> None:
        self.outputs.append({"topic": topic, "key": key, "value": value})

    def record(self) -> Record | None:
        if not (self.needs or self.teams or self.calls or self.events or self.outputs):
            return None
        for n in self.needs.values():
            if n is not None:
                self.out(
                    topics.BOARD,
                    n["region"],
                    R.board_delta(
                        n["region"], "need", n["need_id"], n["version"], R.need_view(n), self.at
                    ),
                )
        for t in self.teams.values():
            self.out(
                topics.BOARD,
                t["region"],
                R.board_delta(
                    t["region"], "team", t["team_id"], t["version"], R.team_view(t), self.at
                ),
            )
        return {
            "kind": "journal",
            "schema_version": 1,
            "cause": self.cause,
            "at": self.at,
            "needs": self.needs,
            "teams": self.teams,
            "calls": self.calls,
            "events": self.events,
            "outputs": self.outputs,
        }


def derived_status(
    team: dict[str, Any], state: State, changed: dict[str, dict[str, Any] | None]
) -> str:
    """A team's status on every screen: its own report, overridden by the task it holds."""
    task = team.get("current_task")
    if task:
        need_id = state["dispatches"].get(task) or team.get("need_id")
        n = changed.get(need_id) if need_id in changed else state["needs"].get(need_id)
        business = ((n or {}).get("dispatch") or {}).get("business_status")
        if business in ("en-route", "on-site"):
            return business.replace("-", "_")
        return "busy"
    return str(team.get("reported_status") or "offline")


class Situation:
    def __init__(
        self,
        router: Callable[[], Router],
        timing: Timing | None = None,
        state: State | None = None,
    ) -> None:
        self.router = router
        self.timing = timing or Timing()
        self.state = state or empty_state()
        self._kpi_sent: dict[str, dict[str, Any]] = {}
        self._kpi_at: datetime | None = None
        self._call_ids = {c[4] for c in self.state["calls"] if len(c) > 4}

    # --- journal ------------------------------------------------------------------------

    def redelivered(self, topic: str, value: dict[str, Any]) -> bool:
        """True if this input's effects are already in the state (a redelivery).

        Judged by content, never by offset: after a rebalance an input can come again after
        later ones, so "at or below the last offset" would skip inputs never applied.
        Needs by need id, 116117 calls by call id, team and control-room actions by event id;
        team reports by their time (an older or equal report changes nothing).
        """
        if topic == topics.INTAKE:
            return value.get("need_id") in self.state["needs"]
        if topic == topics.CALLS:
            return value.get("call_id") in self._call_ids
        if topic == topics.TEAM_STATE:
            team = self.state["teams"].get(value.get("team_id"))
            return bool(team and str(team.get("reported_at")) >= str(value.get("reported_at")))
        return value.get("event_id") in self.state.setdefault("events", {})

    def apply(self, record: Record) -> None:
        s = self.state
        for need_id, n in record["needs"].items():
            if n is None:
                for d_id in (s["needs"].pop(need_id, None) or {}).get("dispatch_ids", ()):
                    s["dispatches"].pop(d_id, None)
                continue
            s["needs"][need_id] = n
            for d_id in n.get("dispatch_ids", ()):
                s["dispatches"][d_id] = need_id
        for team_id, t in record["teams"].items():
            s["teams"][team_id] = t
        s["calls"].extend(record["calls"])
        self._call_ids.update(c[4] for c in record["calls"] if len(c) > 4)
        s.setdefault("events", {}).update(record.get("events") or {})

    def _commit(self, tx: Tx) -> Record | None:
        record = tx.record()
        if record is not None:
            self.apply(record)
        return record

    # --- helpers ------------------------------------------------------------------------

    def _teams(self, region: str, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
        skip = set(exclude)
        return [
            t
            for t in self.state["teams"].values()
            if t.get("region") == region and t["team_id"] not in skip
        ]

    def _loads(self) -> dict[str, int]:
        return {t["team_id"]: len(t.get("active") or ()) for t in self.state["teams"].values()}

    def _note(self, tx: Tx, n: dict[str, Any], what: str, detail: str = "", **info: Any) -> None:
        """A timeline entry: [at, what, detail in English] and, with ``info``, the entry's
        values for the UI to say in its own words (codes, ids, numbers; no sentences)."""
        n["timeline"].append([tx.at, what, detail, info] if info else [tx.at, what, detail])
        del n["timeline"][: -self.timing.timeline_max]

    def _decide(
        self, tx: Tx, need: dict[str, Any], exclude: Iterable[str], coords: list[int | None]
    ) -> Decision:
        team_views = [
            {**t, "status": t.get("reported_status")} for t in self._teams(need["region"], exclude)
        ]
        partition, offset = coords
        decision = self.router().decide(
            need, team_views, tx.now, self._loads(), partition=partition, offset=offset
        )
        tx.out(topics.DECISIONS, need["region"], decision.model_dump(mode="json"))
        return decision

    def _offer(self, tx: Tx, n: dict[str, Any], team_id: str, why: str) -> None:
        attempt = n["attempts"] = n["attempts"] + 1
        timeout = self.timing.offer_timeout_s.get(n["priority"], 300.0)
        d = {
            "dispatch_id": stable_id("dsp", n["need_id"], str(attempt)),
            "team_id": team_id,
            "status": R.REQUESTED,
            "business_status": None,
            "attempt": attempt,
            "offered_at": tx.at,
            "expires_at": _iso(tx.now + timedelta(seconds=timeout)),
            "version": 1,
        }
        n["dispatch"] = d
        n["dispatch_ids"] = [*n.get("dispatch_ids", []), d["dispatch_id"]]
        n["phase"], n["owner"] = "offered", {"kind": "control_room", "team_id": None}
        self._note(tx, n, "offered", f"{team_id} ({why})", team=team_id)
        team = tx.team(team_id)
        if team is not None:
            team["active"] = [*team["active"], d["dispatch_id"]]
            tx.put_team(team)
        tx.out(topics.DISPATCHES, team_id, R.dispatch_record(n, tx.at))

    def _escalate(self, tx: Tx, n: dict[str, Any], decision: Decision) -> None:
        n["dispatch"] = None
        n["phase"], n["owner"] = "escalated", {"kind": "control_room", "team_id": None}
        reason = decision.escalation_reason or "no team"
        code = R.ALERT_NO_TEAM if decision.services_tried else R.ALERT_NO_RULE
        services = list(decision.services_tried)
        n["alert"] = {
            "reason": reason,
            "code": code,
            "services": services,
            "raised_at": tx.at,
            "acknowledged_by": None,
            "acknowledged_at": None,
        }
        self._note(tx, n, "escalated", reason, code=code, services=services)

    def _route(self, tx: Tx, n: dict[str, Any], why: str) -> None:
        decision = self._decide(tx, n["source_need"], n["tried"], n["need_coords"])
        if decision.team_id:
            self._offer(tx, n, decision.team_id, why)
        else:
            self._escalate(tx, n, decision)

    def _end_dispatch(self, tx: Tx, n: dict[str, Any], status: str, reason: str | None) -> None:
        """Close the need's current dispatch (the team is told) and free the team."""
        d = n.get("dispatch")
        if not d or d["status"] not in R.ACTIVE:
            return
        d["status"], d["version"] = status, d["version"] + 1
        d["ended_at"] = tx.at
        d["business_status"] = None  # an ended dispatch is only its FHIR status
        if status in (R.REJECTED, R.CANCELLED, R.FAILED):
            n["tried"].append(d["team_id"])
        tx.out(topics.DISPATCHES, d["team_id"], R.dispatch_record(n, tx.at, reason))
        team = tx.team(d["team_id"])
        if team is not None:
            team["active"] = [x for x in team["active"] if x != d["dispatch_id"]]
            if team.get("current_task") == d["dispatch_id"]:
                team["current_task"], team["need_id"] = None, None
            tx.put_team(team)

    # --- inputs -------------------------------------------------------------------------

    def on_need(self, need: dict[str, Any], now: datetime, cause: dict[str, Any]) -> Record | None:
        if need["need_id"] in self.state["needs"]:
            return None
        tx = Tx(self.state, cause, now)
        # Published once, by the journal record that makes the state remember the need.
        tx.out(topics.NEEDS, need["region"], need)
        coords = [cause.get("partition"), cause.get("offset")]
        decision = self._decide(tx, need, (), coords)
        n: dict[str, Any] = {
            "need_id": need["need_id"],
            "region": need["region"],
            "municipality": need["municipality"],
            "source": need["source"],
            "signal": need.get("alarm_code")
            or need.get("condition_category")
            or need.get("disposition")
            or need["source"],
            "synthetic": bool(need.get("synthetic")),
            "received_at": tx.at,
            "status": "open",
            "phase": "new",
            "owner": {"kind": "control_room", "team_id": None},
            "service": decision.requested_service,
            "priority": decision.priority,
            "sla_minutes": decision.sla_minutes,
            "due_at": _iso(now + timedelta(minutes=decision.sla_minutes)),
            "dispatch": None,
            "attempts": 0,
            "tried": [],
            "alert": None,
            "overdue": False,
            "outcome": None,
            "timeline": [],
            "explanation": {
                "ruleset": decision.ruleset,
                "rule_id": decision.rule_id,
                "guard_reason": decision.guard_reason,
                "matched": [m.model_dump(mode="json") for m in decision.matched],
                "candidates": list(decision.candidates[:12]),
            },
            "source_need": need,
            "need_coords": coords,
        }
        rule = decision.rule_id or "no rule"
        self._note(
            tx,
            n,
            "received",
            f"{need['source']} → {rule}",
            source=need["source"],
            rule=decision.rule_id,
        )
        if decision.team_id:
            self._offer(tx, n, decision.team_id, "routed")
        else:
            self._escalate(tx, n, decision)
        tx.put_need(n)
        return self._commit(tx)

    def on_team_state(
        self, report: dict[str, Any], now: datetime, cause: dict[str, Any]
    ) -> Record | None:
        tx = Tx(self.state, cause, now)
        team = tx.team(report["team_id"]) or {"team_id": report["team_id"], "active": []}
        if team.get("reported_at") and team["reported_at"] >= report["reported_at"]:
            return None  # an older report arrived late, or this one again
        for key in (
            "region",
            "team_type",
            "location",
            "skills",
            "capacity",
            "shift",
            "coverage",
            "reported_at",
            "synthetic",
        ):
            team[key] = report.get(key)
        team["reported_status"] = report["status"]
        tx.put_team(team)
        return self._commit(tx)

    def on_call(self, call: dict[str, Any], now: datetime, cause: dict[str, Any]) -> Record | None:
        if call.get("phase") != "started":
            return None
        tx = Tx(self.state, cause, now)
        tx.calls.append(
            [
                str(call["occurred_at"]),
                str(call["municipality"]),
                str(call["region"]),
                "1" if call.get("synthetic") else "0",
                str(call.get("call_id")),
            ]
        )
        return self._commit(tx)

    def _refuse(
        self,
        tx: Tx,
        ev: dict[str, Any],
        code: str,
        reason: str,
        n: dict[str, Any] | None,
        status: str | None = None,
    ) -> None:
        record = R.refusal_record(ev, reason, tx.at, code, status)
        tx.out(topics.DISPATCHES, str(ev.get("team_id")), record)
        if n is not None:
            self._note(
                tx,
                n,
                "refused",
                f"{ev.get('team_id')} {ev.get('action')}: {reason}",
                team=ev.get("team_id"),
                action=ev.get("action"),
                code=code,
                status=status,
            )
            tx.put_need(n)

    def on_team_event(
        self, ev: dict[str, Any], now: datetime, cause: dict[str, Any]
    ) -> Record | None:
        tx = Tx(self.state, cause, now)
        tx.events[ev["event_id"]] = tx.at
        need_id = self.state["dispatches"].get(ev["dispatch_id"])
        n = tx.need(need_id) if need_id else None
        action, team_id = ev["action"], ev["team_id"]
        d = (n or {}).get("dispatch")
        if n is None:
            self._refuse(
                tx, ev, R.REFUSE_UNKNOWN_DISPATCH, f"unknown dispatch {ev['dispatch_id']}", None
            )
        elif d is None or d["dispatch_id"] != ev["dispatch_id"] or d["status"] not in R.ACTIVE:
            self._refuse(
                tx, ev, R.REFUSE_ENDED, f"dispatch {ev['dispatch_id']} is no longer active", n
            )
        elif d["team_id"] != team_id:
            self._refuse(
                tx,
                ev,
                R.REFUSE_NOT_OWNER,
                f"team {team_id} does not own dispatch {d['dispatch_id']}",
                n,
            )
        elif (why := R.illegal(action, d["status"], d.get("business_status"))) is not None:
            where = d.get("business_status") or d["status"]
            self._refuse(tx, ev, R.REFUSE_NOT_NOW, why, n, where)
        else:
            self._act(tx, n, d, ev)
        return self._commit(tx)

    def _act(self, tx: Tx, n: dict[str, Any], d: dict[str, Any], ev: dict[str, Any]) -> None:
        action, team_id = ev["action"], ev["team_id"]
        detail = f"{team_id}" + (f": {ev['reason']}" if ev.get("reason") else "")
        if action == "decline":
            self._note(tx, n, "declined", detail)
            self._end_dispatch(tx, n, R.REJECTED, ev.get("reason") or "declined")
            self._route(tx, n, f"re-offered after {team_id} declined")
        elif action == "fail":
            self._note(tx, n, "failed", detail)
            self._end_dispatch(tx, n, R.FAILED, ev.get("reason") or "failed")
            n["owner"] = {"kind": "control_room", "team_id": None}
            self._route(tx, n, f"re-offered after {team_id} failed")
        else:
            d["version"] += 1
            team = tx.team(team_id)
            if action == "received":
                d["status"] = R.RECEIVED
            elif action == "accept":
                d["status"], d["accepted_at"] = R.ACCEPTED, tx.at
                n["phase"], n["owner"] = "accepted", {"kind": "team", "team_id": team_id}
                n["alert"] = None
                if team is not None:
                    team["current_task"], team["need_id"] = d["dispatch_id"], n["need_id"]
            elif action == "en_route":
                d["status"], d["business_status"], d["en_route_at"] = (
                    R.IN_PROGRESS,
                    "en-route",
                    tx.at,
                )
                n["phase"] = "en_route"
            elif action == "on_site":
                d["status"], d["business_status"], d["on_site_at"] = R.IN_PROGRESS, "on-site", tx.at
                n["phase"] = "on_site"
            elif action == "complete":
                d["status"], d["completed_at"] = R.COMPLETED, tx.at
                d["business_status"] = None  # as _end_dispatch: ended means no business status
                n["status"], n["phase"], n["closed_at"] = "closed", "completed", tx.at
                n["outcome"] = ev.get("outcome") or "resolved_at_home"
                if team is not None:
                    team["active"] = [x for x in team["active"] if x != d["dispatch_id"]]
                    team["current_task"], team["need_id"] = None, None
            self._note(tx, n, action, detail)
            tx.put_need(n)  # before the team, whose status derives from the need
            if team is not None:
                tx.put_team(team)
            tx.out(topics.DISPATCHES, team_id, R.dispatch_record(n, tx.at))
            return
        tx.put_need(n)

    def on_control(self, ev: dict[str, Any], now: datetime, cause: dict[str, Any]) -> Record | None:
        tx = Tx(self.state, cause, now)
        tx.events[ev["event_id"]] = tx.at
        n = tx.need(ev["need_id"])
        reason, command = ev.get("reason"), ev["command"]
        # Timelines name the subject and the role: "anna@example.fi (control_room)".
        actor = f"{ev['actor']} ({ev['actor_role']})" if ev.get("actor_role") else ev["actor"]
        said = f"{actor}: {reason}" if reason else actor
        problem = code = phase = None
        if n is None:
            problem, code = f"unknown need {ev['need_id']}", R.REFUSE_UNKNOWN_NEED
        elif command != "acknowledge" and n["status"] != "open":
            problem, code = f"need {n['need_id']} is already {n['phase']}", R.REFUSE_NEED_CLOSED
            phase = n["phase"]
        elif command == "reassign" and ev["team_id"] not in self.state["teams"]:
            problem, code = f"unknown team {ev['team_id']}", R.REFUSE_UNKNOWN_TEAM
        if problem is not None:
            region = ev.get("region", "")
            tx.out(
                topics.BOARD,
                region,
                R.board_delta(
                    region,
                    "notice",
                    ev["event_id"],
                    1,
                    {
                        "level": "error",
                        "actor": actor,
                        "command": command,
                        "message": problem,
                        "code": code,
                        "phase": phase,
                        "need_id": ev["need_id"],
                        "team_id": ev.get("team_id"),
                    },
                    tx.at,
                ),
            )
            return self._commit(tx)
        assert n is not None
        if command == "acknowledge":
            if n.get("alert"):
                n["alert"] = {**n["alert"], "acknowledged_by": actor, "acknowledged_at": tx.at}
            self._note(tx, n, "acknowledged", said)
        elif command == "reassign":
            self._end_dispatch(tx, n, R.CANCELLED, f"reassigned by {actor}: {reason}")
            n["alert"] = None
            self._note(tx, n, "reassigned", f"{actor} → {ev['team_id']}: {reason}")
            self._offer(tx, n, ev["team_id"], f"reassigned by {actor}")
        else:
            self._end_dispatch(tx, n, R.CANCELLED, f"closed by {actor}: {reason}")
            n["status"], n["phase"], n["closed_at"] = "closed", "closed", tx.at
            n["outcome"] = ev.get("outcome") or "no_need"
            n["owner"] = {"kind": "control_room", "team_id": None}
            n["closed_by"], n["close_reason"] = actor, reason
            self._note(tx, n, "closed", f"{actor}: {reason}")
        tx.put_need(n)
        return self._commit(tx)

    def on_tick(self, now: datetime, cause: dict[str, Any] | None) -> Record | None:
        """Offer time-outs, SLA overdue flags, history pruning and KPI updates."""
        tx = Tx(self.state, cause, now)
        horizon = now - timedelta(seconds=self.timing.history_s)
        for need_id, stored in list(self.state["needs"].items()):
            if stored["status"] != "open":
                if _at(stored.get("closed_at") or stored["received_at"]) < horizon:
                    tx.needs[need_id] = None
                    tx.out(
                        topics.BOARD,
                        stored["region"],
                        R.board_delta(
                            stored["region"], "need", need_id, stored["version"] + 1, None, tx.at
                        ),
                    )
                continue
            d = stored.get("dispatch")
            expired = d and d["status"] in R.OPEN_OFFER and _at(d["expires_at"]) <= now
            overdue = not stored["overdue"] and _at(stored["due_at"]) <= now
            if not (expired or overdue):
                continue
            n = tx.need(need_id)
            assert n is not None
            if overdue:
                n["overdue"] = True
                self._note(
                    tx,
                    n,
                    "overdue",
                    f"SLA {n['sla_minutes']} min passed",
                    sla_minutes=n["sla_minutes"],
                )
            if expired:
                team_id = n["dispatch"]["team_id"]
                self._note(tx, n, "offer expired", team_id)
                self._end_dispatch(tx, n, R.CANCELLED, "offer expired")
                self._route(tx, n, f"re-offered after {team_id} did not answer")
            tx.put_need(n)
        self.state["calls"] = [c for c in self.state["calls"] if _at(c[0]) >= horizon]
        self._call_ids = {c[4] for c in self.state["calls"] if len(c) > 4}
        events = self.state.setdefault("events", {})
        for event_id in [e for e, at in events.items() if _at(at) < horizon]:
            del events[event_id]
        due = self._kpi_at is None or (
            (now - self._kpi_at).total_seconds() >= self.timing.kpi_interval_s
        )
        kpis_now = {}
        if self.timing.publish_kpis and due:
            self._kpi_at = now
            kpis_now = compute_kpis(self.state, now, self.timing.kpi_include_synthetic)
        for region, kpis in kpis_now.items():
            if self._kpi_sent.get(region) != kpis:
                self._kpi_sent[region] = kpis
                version = int(now.timestamp() * 1000)
                tx.out(
                    topics.BOARD,
                    region.split(":")[0],
                    R.board_delta(region.split(":")[0], "kpi", region, version, kpis, tx.at),
                )
        return self._commit(tx)
