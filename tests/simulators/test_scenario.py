from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators.basic import BasicSimulator
from simulators.scenario import Scenario, load_scenario, shipped
from tike.regions import load_registry

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
REGION = load_registry().region("etela-pohjanmaa")


def counts(scenario: str | Scenario | None, seconds: float, seed: int = 5) -> Counter[str]:
    chosen = load_scenario(scenario) if isinstance(scenario, str) else scenario
    sim = BasicSimulator(REGION, seed=seed, start=START, scenario=chosen)
    out: Counter[str] = Counter()
    for _, (_, _, event) in sim.events_until(seconds):
        code = getattr(event, "status_code", None)
        if code is not None and code.value == "heartbeat":
            out["heartbeat"] += 1
        elif getattr(event, "status", None) is not None and event.kind == "team_status":
            out[f"team:{event.status.value}"] += 1
        else:
            out[event.kind] += 1
    return out


def test_the_shipped_scenarios_load() -> None:
    assert {"normal-night", "storm", "flu-season", "team-offline"} <= set(shipped())
    for name in shipped():
        assert load_scenario(name).name == name


def test_storm_surges_alarms_and_silences_a_fifth_of_the_devices() -> None:
    storm = load_scenario("storm")
    assert storm.multiplier("alarm", 3600) == 3.0 and storm.multiplier("alarm", 5 * 3600) == 1.0
    assert storm.multiplier("transport", 3600) == 1.0
    # The same evening without the storm.
    calm, stormy = counts(Scenario(name="calm", local_hour=18), 3 * 3600), counts("storm", 3 * 3600)
    assert stormy["safety_alarm"] > 1.8 * calm["safety_alarm"]
    assert stormy["call_116117"] > calm["call_116117"]
    # A fifth of the devices stop heartbeating for most of the window.
    assert 0.70 * calm["heartbeat"] < stormy["heartbeat"] < 0.90 * calm["heartbeat"]
    assert stormy["team:offline"] > 0 and calm["team:offline"] == 0


def test_team_offline_reports_exactly_that_team_offline() -> None:
    sim = BasicSimulator(REGION, seed=2, start=START, scenario=load_scenario("team-offline"))
    offline = {
        e.team_id
        for t, (_, _, e) in sim.events_until(3600)
        if e.kind == "team_status" and e.status.value == "offline" and t >= 20 * 60
    }
    assert offline == {"sim-home-hospital-1"}


def test_bad_scenarios_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown scenario 'nope'.*storm"):
        load_scenario("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nphases: [{alarm: -1}]\n")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        load_scenario(str(bad))
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: typo\nphases: [{alarms: 2}]\n")
    with pytest.raises(ValueError, match="alarms"):
        load_scenario(str(typo))


def test_the_loadtest_progress_bar_shows_time_and_running_figures() -> None:
    import io

    from rich.console import Console

    from simulators.loadtest import Measure, _progress, _stats

    out = io.StringIO()
    bar, task = _progress(60, Console(file=out, width=160, force_terminal=False))
    m = Measure(produced=42)
    m.sent["need-1"] = 0.0
    m.board["need-1"] = 55.0
    bar.start()
    bar.update(task, completed=30, stats=_stats(m))
    bar.stop()
    text = out.getvalue()
    assert "30/60 s" in text
    assert "sent 42  needs 1  on board 1" in text and "p99 55.0 ms" in text


def test_the_demo_runs_a_compressed_clock_on_a_share_of_the_devices() -> None:
    from simulators.scenario import REALISTIC, scenario_for

    demo = load_scenario("demo")
    assert demo.time_scale == 10 and 0 < demo.device_share < 1
    assert scenario_for(REALISTIC) is None and scenario_for("") is None
    assert scenario_for("demo") == demo
    full = BasicSimulator(REGION, seed=5, start=START)
    thin = BasicSimulator(REGION, seed=5, start=START, scenario=demo)
    assert len(thin.devices) < 0.25 * len(full.devices)
    # Alarms come at the whole region's rate although fewer devices send heartbeats.
    assert abs(thin.rates_per_s["alarm"] / full.rates_per_s["alarm"] - 1) < 0.01
    # The first five scenario minutes (30 s at x10) bring enough needs for a living board.
    alarms = [
        e
        for _, (_, _, e) in BasicSimulator(REGION, seed=1, start=START, scenario=demo).events_until(
            5 * 60
        )
        if e.kind == "safety_alarm" and e.status_code.value not in ("heartbeat", "low_battery")
    ]
    assert len(alarms) >= 10
