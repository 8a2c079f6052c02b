"""The what-if on a day of the seeded simulator's regional traffic, recorded on the fly.

Done when: one more night mobile doctor gives fewer escalations and a shorter offer→accept
median at night, the same results twice with the same seed; and a rules change's KPI
difference matches the dry-run's changed decisions."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta

import orjson

from rules.dryrun import dry_run
from rules.engine import DEFAULT_RULESET, Router
from simulators.whatif.compare import compare
from simulators.whatif.inputs import Prepared
from simulators.whatif.replay import Config, RunResult, run
from simulators.whatif.report import KPI_KEYS, facts, render_html
from simulators.whatif.roster import Roster, shipped_roster
from tike.regions import Registry
from tike_core.situation.kpi import _window

SEED = 7


def one_more_night_doctor(roster: Roster) -> Roster:
    night = next(t for t in roster.teams if t.team_id == "ep-mobile-doctor-night")
    lapua = (62.97, 23.01)
    extra = dataclasses.replace(
        night, team_id="ep-mobile-doctor-night-2", lat=lapua[0], lon=lapua[1]
    )
    return roster.with_team(extra, "one-more-night-doctor")


def test_the_day_is_regional_traffic(day: Prepared) -> None:
    assert day.end - day.start > timedelta(hours=23, minutes=50)
    sources = Counter(i.value["source"] for i in day.inputs if i.kind == "need")
    # About 300 help alarms, 80 transports and 144 calls a day for South Ostrobothnia.
    assert 250 < sum(sources.values()) < 600, sources
    assert {"safety_alarm", "transport_request", "call_116117"} <= set(sources)
    assert not day.rejected


def test_one_more_night_doctor(day: Prepared, registry: Registry) -> None:
    roster = shipped_roster("etela-pohjanmaa", registry)
    router = Router.default(registry)
    baseline, variant = Config(router, roster), Config(router, one_more_night_doctor(roster))
    report, _ = compare(day, baseline, variant, registry, seed=SEED)
    night_b, night_v = report["periods"]["night"]["baseline"], report["periods"]["night"]["variant"]
    assert night_v["needs"] == night_b["needs"] > 50
    assert night_v["escalations"] < night_b["escalations"]
    wait_b = night_b["first_offer_to_accept"]["median_s"]
    wait_v = night_v["first_offer_to_accept"]["median_s"]
    assert wait_v < wait_b
    # Every escalation difference is traced to needs, and those needs say so.
    traced = report["kpis"]["escalations"]["needs"]
    assert len(traced) >= night_b["escalations"] - night_v["escalations"]
    by_id = {c["need_id"]: c for c in report["changed_needs"]}
    for need_id in traced:
        c = by_id[need_id]
        assert "escalations" in c["kpis"]
        assert c["baseline"]["escalations"] != c["variant"]["escalations"]
    # The extra doctor works at night only, and works.
    util = report["utilisation_by_hour"]["mobile_doctor"]
    assert util["variant"][12] == util["baseline"][12]
    # The same seed gives the same report.
    again, _ = compare(day, baseline, variant, registry, seed=SEED)
    assert orjson.dumps(again) == orjson.dumps(report)
    html = render_html(report)
    assert "<svg" in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert set(KPI_KEYS) <= set(report["kpis"])


def test_the_same_situation_gets_the_same_answers(day: Prepared, registry: Registry) -> None:
    """With an identical configuration both runs are identical, need for need."""
    roster = shipped_roster("etela-pohjanmaa", registry)
    config = Config(Router.default(registry), roster)
    report, _ = compare(day, config, config, registry, seed=SEED)
    assert report["changed_needs_total"] == 0 and report["route_changes"] == []
    assert all(
        k["difference"] in (0, None) or k["needs_total"] == 0
        for k in report["kpis"].values()
        if not isinstance(k["difference"], dict)
    )


def test_kpis_use_the_boards_definitions(day: Prepared, registry: Registry) -> None:
    roster = shipped_roster("etela-pohjanmaa", registry)
    r = run(day, Config(Router.default(registry), roster), registry, seed=SEED)
    calls = [[at, m, "etela-pohjanmaa", "1", str(i)] for i, (at, m) in enumerate(r.calls)]
    board = _window(list(r.needs.values()), calls, r.start - timedelta(seconds=1))
    report, _ = compare(
        day,
        Config(Router.default(registry), roster),
        Config(Router.default(registry), roster),
        registry,
        seed=SEED,
    )
    mine = {k: v["baseline"] for k, v in report["kpis"].items()}
    for key in (
        "needs",
        "resolved_at_home",
        "sent_to_ed",
        "ambulance",
        "share_at_home",
        "avoided_transports",
        "calls_116117",
    ):
        assert mine[key] == board[key], key
    for key in ("offer_to_accept", "accept_to_on_site"):
        assert {k: mine[key][k] for k in ("median_s", "p90_s", "n")} == board[key]
    assert mine["by_service"] == dict(sorted(board["by_service"].items()))
    f = facts(r)
    assert mine["escalations"] == len(r.escalated) == sum(1 for x in f.values() if x["escalations"])
    assert all(datetime.fromisoformat(n["received_at"]) >= r.start for n in r.needs.values())


def test_a_rules_change_matches_the_dry_run(day: Prepared, registry: Registry) -> None:
    text = DEFAULT_RULESET.read_text(encoding="utf-8")
    # fall-no-injury: home care first, the safety responder as the fallback.
    old = (
        "route: {service: safety_responder, priority: urgent, sla_minutes: 45, skills: [lifting],\n"
        "            fallback: [home_care]}"
    )
    assert old in text
    changed = text.replace(
        old,
        old.replace("safety_responder", "X")
        .replace("home_care", "safety_responder")
        .replace("X", "home_care"),
    )
    changed = changed.replace('version: "2026.11.1"', 'version: "9.9.9"')
    active, candidate = Router.default(registry), Router.from_text(changed, "draft", registry)
    roster = shipped_roster("etela-pohjanmaa", registry)
    report, _ = compare(day, Config(active, roster), Config(candidate, roster), registry, seed=SEED)
    needs = [i.value for i in day.inputs if i.kind == "need"]
    dry = dry_run(active, candidate, needs).as_dict()
    assert dry["changed"] > 5
    changed_ids = {c["need_id"] for c in dry["changed_decisions"]}
    assert set(report["route_changes"]) == changed_ids
    by_service = report["kpis"]["by_service"]
    assert set(by_service["needs"]) == changed_ids
    for service, counts in dry["per_service"].items():
        assert by_service["difference"].get(service, 0) == counts["candidate"] - counts["active"]
    assert by_service["difference"]["home_care"] > 0


def test_teams_get_offers_only_on_shift_and_timeouts_apply(
    day: Prepared, registry: Registry
) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Helsinki")
    roster = one_more_night_doctor(shipped_roster("etela-pohjanmaa", registry))
    r = run(day, Config(Router.default(registry), roster), registry, seed=SEED)
    offers = [
        (e[3]["team"], datetime.fromisoformat(e[0]).astimezone(tz))
        for n in r.needs.values()
        for e in n["timeline"]
        if e[1] == "offered" and len(e) > 3
    ]
    extra = [at for team, at in offers if team == "ep-mobile-doctor-night-2"]
    assert extra and all(at.hour >= 20 or at.hour < 8 for at in extra)
    day_only = [at for team, at in offers if team == "ep-home-hospital-1"]
    assert day_only and all(7 <= at.hour < 15 for at in day_only)
    # Shorter time-outs expire more offers, and expired offers are what the time-out says.
    short = run(
        day,
        Config(Router.default(registry), roster, {"urgent": 30, "asap": 30}),
        registry,
        seed=SEED,
    )

    def expired(res: RunResult) -> int:
        return sum(1 for n in res.needs.values() for e in n["timeline"] if e[1] == "offer expired")

    assert expired(short) > expired(r)
