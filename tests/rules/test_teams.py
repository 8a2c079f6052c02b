from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.engine import Router
from tests.rules.conftest import need

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RULES = """
  - id: falls
    when: {source: safety_alarm}
    route: {service: safety_responder, priority: urgent, sla_minutes: 45, skills: [lifting],
            fallback: [home_care]}
"""


def team(team_id: str, team_type: str = "safety_responder", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "team_id": team_id,
        "team_type": team_type,
        "region": "etela-pohjanmaa",
        "status": "available",
        "location": {"lat": 62.79, "lon": 22.84},
        "skills": ["lifting"],
        "capacity": 1,
        "coverage": ["743", "145"],
        "reported_at": NOW.isoformat(),
    }
    base.update(kw)
    return base


def decide(router: Router, teams: list[dict[str, Any]], **kw: Any) -> Any:
    return router.decide(need(source="safety_alarm", **kw), teams, NOW, kw.pop("loads", {}))


def test_nearest_eligible_team_wins_and_every_team_has_a_reason(
    router_for: Callable[[str], Router],
) -> None:
    teams = [
        team("near", location={"lat": 62.80, "lon": 22.85}),
        team("far", location={"lat": 62.43, "lon": 22.18}, coverage=["743", "232"]),
        team("off", status="off_duty"),
        team("elsewhere", coverage=["232"]),
        team("no-lift", skills=["wound_care"]),
        team(
            "gone-home",
            shift={
                "start": (NOW - timedelta(hours=9)).isoformat(),
                "end": (NOW - timedelta(hours=1)).isoformat(),
            },
        ),
        team("nurse", team_type="mobile_nurse"),
    ]
    d = decide(router_for(RULES), teams)
    assert d.team_id == "near" and d.service == "safety_responder" and not d.escalated
    reasons = {c["team_id"]: c["reason"] for c in d.candidates}
    assert "nurse" not in reasons  # other services are not candidates
    assert reasons["near"].startswith("won")
    assert reasons["far"].startswith("lost: score")
    assert reasons["off"] == "off duty"
    assert reasons["elsewhere"] == "does not cover municipality 743"
    assert reasons["no-lift"] == "lacks skills: lifting"
    assert reasons["gone-home"] == "outside its shift"


def test_busy_team_loses_to_an_available_one_further_away(
    router_for: Callable[[str], Router],
) -> None:
    teams = [
        team("busy-near", status="busy", location={"lat": 62.79, "lon": 22.84}),
        team("free-15km", location={"lat": 62.70, "lon": 22.70}),
    ]
    assert decide(router_for(RULES), teams).team_id == "free-15km"


def test_load_and_capacity(router_for: Callable[[str], Router]) -> None:
    router = router_for(RULES)
    teams = [team("a", capacity=2), team("b", location={"lat": 62.75, "lon": 22.80})]
    n = need(source="safety_alarm")
    full = router.decide(n, teams, NOW, {"a": 2, "b": 1})
    assert full.team_id is None or full.service == "home_care"
    reasons = {c["team_id"]: c["reason"] for c in full.candidates}
    assert reasons["a"] == "at capacity (2/2 tasks)" and reasons["b"] == "at capacity (1/1 tasks)"


def test_fallback_chain_then_control_room(router_for: Callable[[str], Router]) -> None:
    router = router_for(RULES)
    teams = [team("sr", status="offline"), team("hc", team_type="home_care")]
    d = decide(router, teams)
    assert (d.team_id, d.service, d.services_tried) == (
        "hc",
        "home_care",
        ("safety_responder", "home_care"),
    )
    nobody = decide(router, [team("sr", status="offline")])
    assert nobody.team_id is None and nobody.escalated
    assert nobody.escalation_reason == "no eligible team in safety_responder, home_care"


def test_no_rule_matched_goes_to_the_control_room(router_for: Callable[[str], Router]) -> None:
    d = router_for(RULES).decide(need(source="call_116117", urgency="D"), [], NOW)
    assert d.rule_id is None and d.escalated and d.escalation_reason == "no rule matched"
    assert d.priority == "urgent"


def test_decision_explains_matched_conditions_with_values(
    router_for: Callable[[str], Router],
) -> None:
    router = router_for(
        "  - id: night-falls\n    when: {alarm_code: [fall_detected, help_button],"
        " time_of_day: '22:00-07:00'}\n"
        "    route: {service: safety_responder, priority: urgent, sla_minutes: 45}\n"
    )
    d = router.decide(
        need(
            source="safety_alarm",
            alarm_code="fall_detected",
            occurred_at="2026-11-23T21:15:00+00:00",
        ),
        [],
        NOW,
    )
    assert d.ruleset == "t@1" and d.rule_id == "night-falls"
    got = {(m.field, m.condition, m.value) for m in d.matched}
    assert got == {
        ("alarm_code", "[fall_detected, help_button]", "fall_detected"),
        ("time_of_day", "22:00-07:00", "23:15"),
    }
