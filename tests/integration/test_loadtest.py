"""`tike loadtest` against the real stack: every need is timed to the board and to the team."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.auth import issue
from simulators.loadtest import loadtest, write_report
from simulators.scenario import load_scenario
from tike.regions import load_registry
from tike_cli.harness import SECRET, Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_loadtest_times_every_need_and_writes_its_report(
    broker: str, gateway: Gateway, tmp_path: Path
) -> None:
    region = load_registry().region("etela-pohjanmaa")
    token = issue(SECRET, "admin", "loadtest")
    result = await loadtest(
        broker,
        gateway.url,
        token,
        region,
        load_scenario("storm"),
        rate=30,
        duration_s=15,
        seed=4,
        progress=False,
    )
    print({k: v for k, v in result.items() if k != "timeline"})
    assert result["produced"] > 50  # heartbeats (spread over 5 min), alarms, calls, teams
    assert result["needs_sent"] >= 5
    assert result["needs_missing_from_board"] == 0, result
    assert result["event_to_board"]["n"] == result["needs_sent"]
    assert result["event_to_board"]["p50_ms"] > 0
    assert result["needs_without_decision"] == 0, result
    assert result["event_to_decision"]["n"] == result["needs_sent"]
    assert 0 < result["event_to_decision"]["p50_ms"] <= result["event_to_board"]["p50_ms"]
    assert result["offers_on_team_sockets"] >= 1
    assert result["deadletters_during_run"] == 0
    js, html = write_report(result, tmp_path)
    assert json.loads(js.read_text())["scenario"] == "storm"
    assert "<svg" in html.read_text() and html.read_text().count("<circle") >= 5


async def test_a_rerun_against_the_same_stack_sends_new_events_and_loses_none(
    broker: str, gateway: Gateway, tmp_path: Path
) -> None:
    """Each run draws a fresh seed: the second run's events are new to the worker, not
    redeliveries of the first run's (which it would drop, leaving needs off the board)."""
    region = load_registry().region("etela-pohjanmaa")
    token = issue(SECRET, "admin", "loadtest")
    runs = []
    for _ in range(2):
        result = await loadtest(
            broker,
            gateway.url,
            token,
            region,
            load_scenario("storm"),
            rate=60,
            duration_s=4,
            time_scale=3,
            progress=False,
        )
        print({k: v for k, v in result.items() if k != "timeline"})
        runs.append(result)
    for result in runs:
        assert result["needs_sent"] >= 1, result
        assert result["needs_missing_from_board"] == 0, result
        assert result["event_to_board"]["n"] == result["needs_sent"]
    assert runs[0]["seed"] != runs[1]["seed"]
    _, html = write_report(runs[1], tmp_path)
    assert f"seed {runs[1]['seed']}" in html.read_text()
