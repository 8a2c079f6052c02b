"""Probe: does every alarm become a need when the worker is SIGKILLed mid-dispatch?

    .venv/bin/python bench/restart_probe.py [--runs 6]

Each run starts its own broker, Redis and worker (embedded profile), sends 200 alarms to
two teams, kills the worker when 100 needs are on the board, sends 220 more (20 of them
redeliveries), restarts the worker, waits 40 s and counts the alarms whose need never
appeared on tike.needs, and how many of those never reached tike.intake (never ingested).
See docs/dispatch.md, "Known defect".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.harness import (
    Collector,
    Worker,
    producer,
    start_broker,
    start_redis,
    worker_env,
)
from tike import topics
from tike.examples import example


async def one_run(broker: str, worker: Worker) -> tuple[int, int]:
    await asyncio.to_thread(worker.start)
    needs = await Collector(broker, topics.NEEDS).start()
    board = await Collector(broker, topics.BOARD).start()
    intake = await Collector(broker, topics.INTAKE).start()
    prod = await producer(broker)
    for team_id in ("big-a", "big-b"):
        status = orjson.loads(example("team_status").model_dump_json())
        status.update(team_id=team_id, team_type="safety_responder", skills=["lifting"],
                      capacity=50, shift=None, coverage=["743"])  # fmt: skip
        await prod.send_and_wait(topics.TEAM_STATUS, orjson.dumps(status))
    alarms = []
    for i in range(400):
        alarm = orjson.loads(example("safety_alarm").model_dump_json())
        alarm["device_id"] = f"dev-kill-{i % 37}"
        alarms.append(alarm)
    for a in alarms[:200]:
        await prod.send(topics.ALARMS, orjson.dumps(a), key=a["device_id"].encode())
    await prod.flush()
    await board.wait(lambda d: d["entity"] == "need", timeout=30)
    deadline = asyncio.get_running_loop().time() + 60
    while len(board.matching(lambda d: d["entity"] == "need")) < 100:
        assert asyncio.get_running_loop().time() < deadline, "worker did not start"
        await asyncio.sleep(0.01)
    worker.kill()
    for a in alarms[200:] + alarms[:20]:
        await prod.send(topics.ALARMS, orjson.dumps(a), key=a["device_id"].encode())
    await prod.flush()
    await asyncio.to_thread(worker.start, 90)
    await asyncio.sleep(40)
    got = {n["origin"]["event_id"] for n in needs.matching(lambda n: True)}
    ingested = {n["origin"]["event_id"] for n in intake.matching(lambda n: True)}
    missing = [a["event_id"] for a in alarms if a["event_id"] not in got]
    for c in (needs, board, intake):
        await c.stop()
    await prod.stop()
    worker.stop()
    return len(missing), sum(1 for m in missing if m not in ingested)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            logs = Path(tmp)
            b, broker = start_broker(logs)
            r, redis = start_redis(logs)
            env = worker_env(broker, redis, logs / "state", TIKE_SNAPSHOT_EVERY="25",
                             TIKE_TICK_INTERVAL_S="0.5")  # fmt: skip
            try:
                lost, never_ingested = asyncio.run(one_run(broker, Worker(env, logs / "w.log")))
            finally:
                b.stop()
                r.stop()
        print(f"run {run}: {lost} of 400 alarms lost ({never_ingested} never ingested)", flush=True)


if __name__ == "__main__":
    main()
