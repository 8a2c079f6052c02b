"""The simulator's teams answer their offers on the real stack, so the board comes alive."""

from __future__ import annotations

import pytest

from simulators.basic import run
from tike import topics
from tike.regions import load_registry
from tike_cli.harness import Collector, Worker

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def worker_extra() -> dict[str, str]:
    """Device supervision at the simulated clock's scale. The harness's 3 s heartbeat
    timeout, with heartbeats every 5 simulated minutes (5 s here), made every simulated
    device fall silent between its heartbeats: a storm of silence checks and silent-device
    needs that delayed the team events this test is about."""
    return {"TIKE_HEARTBEAT_TIMEOUT_S": "60", "TIKE_SILENCE_CHECK_INTERVAL_S": "5"}


async def test_simulated_teams_accept_drive_and_complete(broker: str, worker: Worker) -> None:
    dispatches = await Collector(broker, topics.DISPATCHES).start()
    board = await Collector(broker, topics.BOARD).start()
    try:
        region = load_registry().region("etela-pohjanmaa")
        # 60 simulated minutes in 60 s, at ten times the regional rate. A visit lasts 15-45
        # simulated minutes after the offer, acceptance and drive (simulators/responders.py):
        # with 40 minutes a slow run had no offer old enough to be completed.
        await run(broker, region, seed=3, rate=10, duration_s=3600, time_scale=60)
        records = dispatches.matching(lambda d: d.get("kind") == "dispatch")
        by_status: dict[str, set[str]] = {}
        for d in records:
            by_status.setdefault(d["status"], set()).add(d["dispatch_id"])
        assert by_status.get("requested"), "no offers were made"
        assert all(d["team_id"].startswith("sim-") for d in records)
        assert by_status.get("accepted"), by_status.keys()
        assert by_status.get("completed"), {k: len(v) for k, v in by_status.items()}
        assert not dispatches.matching(lambda d: d.get("kind") == "dispatch_refusal"), (
            dispatches.matching(lambda d: d.get("kind") == "dispatch_refusal")[:3]
        )
        done = board.matching(lambda d: d["entity"] == "need" and d["data"]["phase"] == "completed")
        assert done and all(d["data"]["outcome"] for d in done)
    finally:
        await dispatches.stop()
        await board.stop()
