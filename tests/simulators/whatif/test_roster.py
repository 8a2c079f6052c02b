"""Roster files: the shipped example loads, shifts become duty periods, errors are located."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from simulators.whatif.roster import (
    SHIPPED,
    RosterFileError,
    load_roster,
    parse_roster,
    recorded_roster,
    shipped_roster,
)
from tike.regions import Registry

TZ = ZoneInfo("Europe/Helsinki")


def test_every_shipped_region_has_a_valid_example_roster(registry: Registry) -> None:
    for region in registry.regions:
        roster = shipped_roster(region, registry)
        assert roster.region == region and roster.teams
        assert (SHIPPED / f"{region}.yaml").is_file()
        services = {t.service for t in roster.teams}
        assert {"mobile_doctor", "mobile_nurse", "home_care", "safety_responder"} <= services
        for t in roster.teams:
            assert t.coverage, t.team_id
            assert all(registry.municipality(c) for c in t.coverage)


def test_a_night_shift_wraps_midnight_in_local_time(registry: Registry) -> None:
    roster = shipped_roster("etela-pohjanmaa", registry)
    night = next(t for t in roster.teams if t.team_id == "ep-mobile-doctor-night")
    start = datetime(2026, 11, 24, 0, 0, tzinfo=TZ)
    periods = night.duty(start, datetime(2026, 11, 25, 0, 0, tzinfo=TZ), TZ)
    local = [
        (a.astimezone(TZ).strftime("%d %H:%M"), b.astimezone(TZ).strftime("%d %H:%M"))
        for a, b in periods
    ]
    assert local == [("23 20:00", "24 08:00"), ("24 20:00", "25 08:00")]


def test_errors_name_the_line_the_column_and_the_team(registry: Registry) -> None:
    text = (
        "roster: bad\n"
        "region: etela-pohjanmaa\n"
        "teams:\n"
        "  - id: ok-team\n"
        "    service: mobile_doctor\n"
        "    base: '743'\n"
        "    coverage: {within_km: 50}\n"
        "    shifts: ['25:00-08:00']\n"
        "    colour: red\n"
        "  - {id: far, service: home_care, base: '999', coverage: ['743']}\n"
    )
    with pytest.raises(RosterFileError) as err:
        parse_roster(text, "bad.yaml", registry)
    shown = [str(e) for e in err.value.errors]
    assert any(s.startswith("bad.yaml:8:13: team 'ok-team': teams.0.shifts") for s in shown)
    assert any(s.startswith("bad.yaml:9:5: team 'ok-team': teams.0.colour") for s in shown)
    # The schema is fine, so municipalities are checked next, one run later.
    fixed = text.replace("'25:00-08:00'", "'20:00-08:00'").replace("    colour: red\n", "")
    with pytest.raises(RosterFileError) as err:
        parse_roster(fixed, "bad.yaml", registry)
    (e,) = err.value.errors
    assert (e.line, e.rule_id) == (9, "far") and "'999'" in e.message


def test_yaml_tags_and_aliases_are_refused(registry: Registry) -> None:
    with pytest.raises(RosterFileError, match="not allowed"):
        parse_roster("roster: !!python/object:os.system x\nregion: y\n", "t.yaml", registry)
    with pytest.raises(RosterFileError, match="aliases"):
        parse_roster("roster: &a x\nregion: *a\n", "t.yaml", registry)


def test_a_deeply_nested_roster_is_a_located_error_not_a_recursion_error(
    registry: Registry,
) -> None:
    hostile = "roster: x\nregion: y\nteams: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(RosterFileError, match="nesting is too deep") as caught:
        parse_roster(hostile, "deep.yaml", registry)
    (error,) = caught.value.errors
    assert (error.origin, error.line) == ("deep.yaml", 3)


def test_extends_adds_replaces_and_removes_teams(registry: Registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "more.yaml"
    path.write_text(
        "roster: more\nregion: etela-pohjanmaa\nextends: etela-pohjanmaa\n"
        "remove: [ep-phone-advice-2]\noffer_timeouts_s: {urgent: 200}\nteams:\n"
        "  - {id: ep-mobile-doctor-night-2, service: mobile_doctor, base: '408',\n"
        "     coverage: {within_km: 150}, skills: [physician], shifts: ['20:00-08:00']}\n"
    )
    base = shipped_roster("etela-pohjanmaa", registry)
    more = load_roster(path, registry)
    ids = {t.team_id for t in more.teams}
    assert ids == {t.team_id for t in base.teams} - {"ep-phone-advice-2"} | {
        "ep-mobile-doctor-night-2"
    }
    assert more.offer_timeouts_s["urgent"] == 200 and more.offer_timeouts_s["asap"] == 120


def test_the_recorded_roster_follows_the_teams_reports(registry: Registry) -> None:
    def report(h: int, status: str) -> tuple[datetime, dict[str, object]]:
        at = datetime(2026, 11, 24, h, tzinfo=UTC)
        return at, {
            "team_id": "t1",
            "team_type": "home_care",
            "status": status,
            "coverage": ["743"],
            "skills": ["lifting"],
            "capacity": 2,
            "location": {"lat": 62.8, "lon": 22.8},
        }

    reports = [
        report(6, "available"),
        report(9, "busy"),
        report(14, "off_duty"),
        report(20, "break"),
    ]
    roster = recorded_roster(reports, datetime(2026, 11, 24, 23, tzinfo=UTC), registry)
    assert roster is not None
    (team,) = roster.teams
    assert team.capacity == 2 and team.coverage == ("743",)
    assert [(a.hour, b.hour) for a, b in team.periods or ()] == [(6, 14), (20, 23)]


def test_a_scenario_run_is_replayed_on_its_scenario_clock(registry: Registry) -> None:
    """A compressed-clock simulator run stamps the real time in occurred_at and keeps the
    scenario's in scenario_time: the what-if uses the scenario's, as the rules would."""
    import orjson

    from simulators.whatif.inputs import prepare
    from tike.examples import example

    value = orjson.loads(example("safety_alarm").model_dump_json())
    value.update(
        occurred_at="2026-11-24T12:00:00+00:00",
        scenario_time="2026-11-24T01:00:00+00:00",
        municipality="743",
        status_code="help_button",
        operator_assessment="acute_illness",
    )
    ts = int(datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp() * 1000)
    prepared = prepare([("tike.in.alarms", "d1", value, ts)], registry)
    (need,) = prepared.inputs
    assert need.at == datetime(2026, 11, 24, 1, tzinfo=UTC)
    assert need.value["occurred_at"].startswith("2026-11-24T01:00:00")
