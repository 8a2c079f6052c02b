"""Routing on the real worker: explained decisions, hot activation, refusals, dry-run."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from rules.engine import DEFAULT_RULESET
from tike import topics
from tike.examples import example
from tike_cli.gateway_client import responder
from tike_cli.harness import Collector, Worker

pytestmark = pytest.mark.asyncio(loop_scope="module")


def tike(broker: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKE_")}
    env["TIKE_KAFKA_BOOTSTRAP"] = broker
    return subprocess.run(
        [sys.executable, "-m", "tike_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def fall(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(
        status_code="fall_detected",
        operator_assessment="no_injury",
        client_flags=["home_care_client"],
        **kw,
    )
    return data


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def decisions(broker: str, worker: Worker) -> AsyncIterator[Collector]:
    c = await Collector(broker, topics.DECISIONS).start()
    yield c
    await c.stop()


async def test_need_is_routed_to_the_nearest_team_with_explanation(decisions, send) -> None:  # type: ignore[no-untyped-def]
    for team_id, lat in (("sr-near", 62.79), ("sr-far", 62.60)):
        await send(topics.TEAM_STATUS, responder(team_id, location={"lat": lat, "lon": 22.84}))
    await asyncio.sleep(1)  # team state travels through tike.team-state
    alarm = fall()
    await send(topics.ALARMS, alarm)
    rec = await decisions.wait(
        lambda d: (
            d["need_id"].startswith("need-")
            and any(m["value"] == "no_injury" for m in d["matched"])
            and d["team_id"] == "sr-near"
        )
    )
    d = rec.json()
    assert d["ruleset"] == "sote-default@2026.11.1" and d["rule_id"] == "fall-no-injury"
    assert d["service"] == "safety_responder" and d["priority"] == "urgent"
    reasons = {c["team_id"]: c["reason"] for c in d["candidates"]}
    assert reasons["sr-near"].startswith("won") and reasons["sr-far"].startswith("lost")
    assert d["need_offset"] is not None


async def test_hot_activation_switches_at_a_known_offset_without_restart(
    broker: str, worker: Worker, decisions: Collector, send: Any, tmp_path: Path
) -> None:
    assert worker.child is not None
    pid = worker.child.proc.pid
    text = DEFAULT_RULESET.read_text().replace('version: "2026.11.1"', 'version: "2026.11.2"')
    text = text.replace(
        "route: {service: safety_responder, priority: urgent, sla_minutes: 45, skills: [lifting],",
        "route: {service: mobile_nurse, priority: urgent, sla_minutes: 50, skills: [lifting],",
    )
    candidate = tmp_path / "v2.yaml"
    candidate.write_text(text)
    # The change breaks the shipped tests of sote-default on purpose: its own tests go beside.
    (tmp_path / "v2.tests.yaml").write_text(
        "cases:\n  - name: a fall without injury goes to the mobile nurse\n"
        "    need: {source: safety_alarm, alarm_code: fall_detected, "
        "operator_assessment: no_injury}\n"
        "    expect: {rule: fall-no-injury, service: mobile_nurse}\n"
    )
    sent: list[str] = []
    stop = asyncio.Event()

    async def stream() -> None:
        while not stop.is_set():
            alarm = fall(device_id=f"dev-hot-{len(sent) % 7}")
            await send(topics.ALARMS, alarm, key=alarm["device_id"].encode())
            sent.append(alarm["event_id"])
            await asyncio.sleep(0.02)

    task = asyncio.create_task(stream())
    try:
        await asyncio.sleep(1.5)
        args = ("rules", "activate", str(candidate), "--comment", "falls to nurses", "--by", "t")
        result = await asyncio.to_thread(tike, broker, *args)
        assert result.returncode == 0, result.stderr
        assert "activated sote-default@2026.11.2 at tike.rules@" in result.stdout
        await asyncio.sleep(2.5)
    finally:
        stop.set()
        await task
    # Every streamed alarm is decided: wait for the decision of the last one.
    needs = await Collector(broker, topics.NEEDS).start()
    streamed = set(sent)
    last = await needs.wait(lambda n: n["origin"]["event_id"] == sent[-1], timeout=20)
    await decisions.wait(lambda d: d["need_id"] == last.json()["need_id"], timeout=20)
    need_ids = {n["need_id"] for n in needs.matching(lambda n: n["origin"]["event_id"] in streamed)}
    await needs.stop()
    ours = decisions.matching(lambda d: d["need_id"] in need_ids)
    assert {d["need_id"] for d in ours} == need_ids
    # Per partition, in need-offset order: the old ruleset up to one offset, the new after it.
    by_partition: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for d in ours:
        by_partition[d["need_partition"]].append((d["need_offset"], d["ruleset"]))
    old, new_label = "sote-default@2026.11.1", "sote-default@2026.11.2"
    for seq in by_partition.values():
        order = [label for _, label in sorted(seq)]
        switch = order.index(new_label) if new_label in order else len(order)
        assert set(order[:switch]) <= {old} and set(order[switch:]) <= {new_label}, order
    assert {d["ruleset"] for d in ours} == {old, new_label}
    new = [d for d in ours if d["ruleset"] == new_label]
    assert new and all(d["requested_service"] == "mobile_nurse" for d in new)
    assert worker.alive() and worker.child.proc.pid == pid
    assert worker.metric("tike_ruleset_info", ruleset="sote-default@2026.11.2") == 1.0


async def test_malicious_ruleset_is_refused_and_the_running_one_stays(
    broker: str, worker: Worker, decisions: Collector, send: Any, tmp_path: Path
) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        'ruleset: evil\nversion: "1"\nrules:\n  - id: x\n'
        "    when: !!python/object/apply:os.system ['touch /tmp/tike-pwned']\n"
        "    route: {service: phone_advice, priority: routine, sla_minutes: 5}\n"
    )
    result = tike(broker, "rules", "activate", str(evil), "--comment", "evil")
    assert result.returncode == 1
    assert f"{evil}:5:11: rule 'x': YAML tag" in result.stderr and "refused" in result.stderr
    assert not await asyncio.to_thread(Path("/tmp/tike-pwned").exists)
    # A broken record written straight to the topic, bypassing the CLI:
    bad = {
        "kind": "ruleset_activation",
        "schema_version": 1,
        "ruleset": "broken",
        "version": "1",
        "checksum": "x",
        "text": "rules: [",
        "comment": "bypass",
        "activated_by": "someone",
        "activated_at": "2026-11-23T10:00:00Z",
    }
    marker = uuid.uuid4().hex.encode()
    await send(topics.RULES, orjson.dumps({**bad, "comment": marker.decode()}), key=b"broken@1")
    dead = await Collector(broker, topics.DEADLETTER).start()
    await dead.wait(
        lambda d: d["topic"] == topics.RULES and marker in base64.b64decode(d["value_b64"])
    )
    await dead.stop()
    # Needs after the refused record are still decided with the ruleset in force.
    alarm = fall()
    await send(topics.ALARMS, alarm)
    needs = await Collector(broker, topics.NEEDS).start()
    need = (await needs.wait(lambda n: n["origin"]["event_id"] == alarm["event_id"])).json()
    await needs.stop()
    rec = await decisions.wait(lambda d: d["need_id"] == need["need_id"])
    assert rec.json()["ruleset"] == "sote-default@2026.11.2"
    assert worker.metric("tike_rulesets_refused_total") >= 1
    shown = tike(broker, "rules", "show")
    assert "REFUSED" in shown.stdout and "* @" in shown.stdout


async def test_dry_run_shows_changed_decisions(broker: str, tmp_path: Path) -> None:
    back = tmp_path / "back.yaml"
    back.write_text(DEFAULT_RULESET.read_text().replace('"2026.11.1"', '"2026.11.3"'))
    result = tike(broker, "rules", "dry-run", str(back), "--since", "1h", "--json")
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["active"] == "sote-default@2026.11.2"
    assert report["needs"] > 0 and report["changed"] > 0
    change = report["changed_decisions"][0]
    assert change["before"]["service"] in {"mobile_nurse", "control_room"}
    assert change["after"]["service"] == "safety_responder"
    human = tike(broker, "rules", "dry-run", str(back), "--since", "1h")
    assert "decisions change" in human.stdout and "Seinäjoki" in human.stdout
