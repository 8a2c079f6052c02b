"""The what-if driver: a prepared recording through the real situation machine on a simulated
clock, with no broker.

- Needs and 116117 call starts go to :class:`~tike_core.situation.machine.Situation` at their
  recorded times; routing is the real :class:`~rules.engine.Router` (rules, the safety guard,
  team selection).
- The roster becomes team reports at each shift's start (``available``) and end
  (``off_duty``); between tasks a team is at its base.
- Every offer is answered by the seeded responder model (``simulators.responders.plan``),
  keyed by the seed and the dispatch id: the same need's same attempt draws the same random
  numbers in both runs. A team that already holds an accepted task answers as a busy team.
- Ticks run at each offer's expiry and each need's SLA deadline, rounded up to the whole
  second (the worker ticks every second), instead of every second: nothing else in a tick
  depends on the time.
- After the last recorded input the clock runs on (``drain``) so that the last needs' teams
  finish; no new needs arrive.
"""

from __future__ import annotations

import heapq
import itertools
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rules.engine import Router
from simulators.responders import Behaviour, plan
from simulators.whatif.inputs import Prepared
from simulators.whatif.roster import Roster
from tike import topics
from tike.regions import Registry
from tike_core.situation import published as R
from tike_core.situation.machine import Situation, Timing

#: Services that answer by phone: no travel to the client (the responder model's "on site"
#: is then the call connecting).
REMOTE_SERVICES = frozenset({"phone_advice"})
DEFAULT_TIMEOUTS = {"stat": 60.0, "asap": 120.0, "urgent": 300.0, "routine": 900.0}
#: Order of simultaneous happenings: shift changes, then inputs, team actions, ticks.
ROSTER, INPUT, ACTION, TICK = 0, 1, 2, 3


@dataclass(frozen=True)
class Config:
    """One side of a what-if: the ruleset, the roster and the offer time-outs."""

    router: Router
    roster: Roster
    offer_timeouts_s: dict[str, float] | None = None  # None: the roster's, else the defaults

    def timeouts(self) -> dict[str, float]:
        out = dict(DEFAULT_TIMEOUTS)
        out.update(self.roster.offer_timeouts_s)
        out.update(self.offer_timeouts_s or {})
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "region": self.roster.region,
            "ruleset": self.router.ruleset.label,
            "roster": self.roster.name,
            "roster_origin": self.roster.origin,
            "teams": len(self.roster.teams),
            "offer_timeouts_s": self.timeouts(),
        }


@dataclass
class RunResult:
    config: dict[str, Any]
    start: datetime
    end: datetime
    drained_to: datetime
    needs: dict[str, dict[str, Any]]
    #: need id -> the route its first decision chose: rule, service, priority, SLA.
    routes: dict[str, dict[str, Any]]
    escalated: dict[str, str]  # need id -> when it was first escalated
    offers: dict[str, int]  # need id -> offers made
    calls: list[tuple[str, str]]  # (started at, municipality)
    teams: dict[str, str]  # team id -> service
    duty: dict[str, list[tuple[datetime, datetime]]]
    busy: dict[str, list[tuple[datetime, datetime]]]
    counts: dict[str, int] = field(default_factory=dict)


def _ceil_s(at: datetime) -> datetime:
    ts = at.timestamp()
    return datetime.fromtimestamp(math.ceil(ts), at.tzinfo)


def _team_report(team: Any, at: datetime, on: bool) -> dict[str, Any]:
    return {
        "team_id": team.team_id,
        "region": team.region,
        "team_type": team.service,
        "status": "available" if on else "off_duty",
        "location": {"lat": team.lat, "lon": team.lon},
        "skills": list(team.skills),
        "capacity": team.capacity,
        "shift": None,
        "coverage": list(team.coverage),
        "reported_at": at.isoformat(),
        "synthetic": True,
    }


def run(
    prepared: Prepared,
    config: Config,
    registry: Registry,
    seed: int = 1,
    behaviour: Behaviour | None = None,
    drain: timedelta = timedelta(hours=4),
) -> RunResult:
    behaviour = behaviour or Behaviour()
    start, end = prepared.start, prepared.end
    until = end + drain
    span = (until - start).total_seconds()
    timing = Timing(offer_timeout_s=config.timeouts(), history_s=span + 86400, publish_kpis=False)
    router = config.router
    sit = Situation(lambda: router, timing)
    tz = ZoneInfo(registry.region(config.roster.region).timezone)
    seq = itertools.count()
    heap: list[tuple[datetime, int, int, Any]] = []

    def push(at: datetime, order: int, item: Any) -> None:
        heapq.heappush(heap, (at, order, next(seq), item))

    bases = {t.team_id: (t.lat, t.lon) for t in config.roster.teams}
    remote = {t.team_id: t.service in REMOTE_SERVICES for t in config.roster.teams}
    duty: dict[str, list[tuple[datetime, datetime]]] = {}
    first = start - timedelta(seconds=1)
    for team in config.roster.teams:
        periods = team.duty(first, until, tz)
        duty[team.team_id] = [(max(a, first), min(b, until)) for a, b in periods]
        on_now = any(a <= first < b for a, b in periods)
        push(first, ROSTER, ("team", _team_report(team, first, on_now)))
        for a, b in periods:
            if a > first:
                push(a, ROSTER, ("team", _team_report(team, a, True)))
            if b > first and b <= until:
                push(b, ROSTER, ("team", _team_report(team, b, False)))
    for item in prepared.inputs:
        push(item.at, INPUT, ("input", item))

    needs: dict[str, dict[str, Any]] = {}
    routes: dict[str, dict[str, Any]] = {}
    escalated: dict[str, str] = {}
    offers: dict[str, int] = {}
    calls: list[tuple[str, str]] = []
    ended: set[str] = set()
    ticks: set[datetime] = set()
    counts = {"ticks": 0, "team_actions": 0, "refused_actions": 0, "decisions": 0}

    def after(record: dict[str, Any] | None) -> None:
        if record is None:
            return
        for need_id, n in record["needs"].items():
            if n is None:
                continue  # pruned from the machine's memory; the last copy is kept here
            needs[need_id] = n
            if n["phase"] == "escalated" and need_id not in escalated:
                escalated[need_id] = record["at"]
            if n["status"] != "open":
                continue
            d = n.get("dispatch")
            if d and d["status"] in R.OPEN_OFFER:
                at = _ceil_s(datetime.fromisoformat(d["expires_at"]))
                if at not in ticks and at <= until:
                    ticks.add(at)
                    push(at, TICK, ("tick", None))
            if not n["overdue"]:
                at = _ceil_s(datetime.fromisoformat(n["due_at"]))
                if at not in ticks and at <= until:
                    ticks.add(at)
                    push(at, TICK, ("tick", None))
        for out in record["outputs"]:
            topic, value = out["topic"], out["value"]
            if topic == topics.DECISIONS:
                counts["decisions"] += 1
                routes.setdefault(
                    value["need_id"],
                    {
                        "rule": value.get("rule_id"),
                        "service": value.get("requested_service") or "control_room",
                        "priority": value.get("priority"),
                        "sla_minutes": value.get("sla_minutes"),
                    },
                )
            elif topic == topics.DISPATCHES and value.get("kind") == "dispatch":
                if value["status"] == R.REQUESTED and value["version"] == 1:
                    offers[value["need_id"]] = offers.get(value["need_id"], 0) + 1
                    _answer(value)
                elif value["status"] in (R.REJECTED, R.CANCELLED, R.FAILED):
                    ended.add(value["dispatch_id"])
            elif topic == topics.DISPATCHES:
                counts["refused_actions"] += 1

    def _answer(d: dict[str, Any]) -> None:
        team = sit.state["teams"].get(d["team_id"]) or {}
        task = team.get("current_task")
        busy = task is not None and task != d["dispatch_id"]
        offered = datetime.fromisoformat(d["offered_at"])
        base = bases.get(d["team_id"])
        loc = (d.get("need") or {}).get("location") or {}
        if remote.get(d["team_id"]) and loc.get("lat") is not None and loc.get("lon") is not None:
            base = (loc["lat"], loc["lon"])
        for step in plan(d, base, seed, behaviour, busy=busy):
            ev = {
                "event_id": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"{d['dispatch_id']}/{step.action}")
                ),
                "dispatch_id": d["dispatch_id"],
                "team_id": d["team_id"],
                "region": d["region"],
                "action": step.action,
                "outcome": step.outcome,
                "reason": step.reason,
            }
            push(offered + timedelta(seconds=step.after_s), ACTION, ("action", ev))

    while heap:
        at, _order, _n, (what, item) = heapq.heappop(heap)
        if at > until:
            break
        if what == "team":
            after(sit.on_team_state(item, at, {"topic": "roster"}))
        elif what == "input":
            if item.kind == "need":
                after(sit.on_need(item.value, at, item.cause))
            else:
                if item.value.get("occurred_at"):
                    calls.append((item.value["occurred_at"], str(item.value["municipality"])))
                after(sit.on_call(item.value, at, item.cause))
        elif what == "action":
            if item["dispatch_id"] in ended:
                continue  # the offer expired or went elsewhere: the team stops (responders.py)
            counts["team_actions"] += 1
            after(sit.on_team_event(item, at, {"topic": "responder-model"}))
        else:
            counts["ticks"] += 1
            after(sit.on_tick(at, None))

    busy: dict[str, list[tuple[datetime, datetime]]] = {}
    for n in needs.values():
        d = n.get("dispatch") or {}
        if d.get("accepted_at"):
            a = datetime.fromisoformat(d["accepted_at"])
            b_at = d.get("completed_at") or d.get("ended_at")
            b = datetime.fromisoformat(b_at) if b_at else until
            busy.setdefault(d["team_id"], []).append((a, b))
    return RunResult(
        config=config.describe(),
        start=start,
        end=end,
        drained_to=until,
        needs=needs,
        routes=routes,
        escalated=escalated,
        offers=offers,
        calls=calls,
        teams={t.team_id: t.service for t in config.roster.teams},
        duty=duty,
        busy=busy,
        counts=counts,
    )
