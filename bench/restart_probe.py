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
import shutil
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.harness import Collector, Worker, producer, worker_stack
from tike import topics
from tike.examples import example


async def one_run(broker: str, worker: Worker, early: bool) -> tuple[int, int]:
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
    placed: dict[str, tuple[int, int]] = {}

    async def send(batch: list[dict[str, str]]) -> None:
        futures = [
            await prod.send(topics.ALARMS, orjson.dumps(a), key=a["device_id"].encode())
            for a in batch
        ]
        await prod.flush()
        for a, fut in zip(batch, futures, strict=True):
            meta = await fut
            placed.setdefault(a["event_id"], (meta.partition, meta.offset))

    await send(alarms[:200])
    progress = needs if early else board
    await progress.wait(lambda d: d.get("entity", "need") == "need", timeout=30)
    deadline = asyncio.get_running_loop().time() + 60
    while len(progress.matching(lambda d: d.get("entity", "need") == "need")) < 100:
        assert asyncio.get_running_loop().time() < deadline, "worker did not start"
        await asyncio.sleep(0.01)
    worker.kill()
    await send(alarms[200:] + alarms[:20])
    await asyncio.to_thread(worker.start, 90)
    await asyncio.sleep(40)
    got = {n["origin"]["event_id"] for n in needs.matching(lambda n: True)}
    ingested = {n["origin"]["event_id"] for n in intake.matching(lambda n: True)}
    missing = [a["event_id"] for a in alarms if a["event_id"] not in got]
    for m in missing:
        where = "intake" if m in ingested else "never ingested"
        print(f"  lost {m} alarms[{placed[m][0]}]@{placed[m][1]} ({where})", flush=True)
    for c in (needs, board, intake):
        await c.stop()
    await prod.stop()
    worker.stop()
    return len(missing), sum(1 for m in missing if m not in ingested)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument(
        "--early", action="store_true", help="kill at 100 needs on tike.needs, not on the board"
    )
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=None,
        help="TIKE_COMMIT_INTERVAL_S for the worker (long: no commit before the kill)",
    )
    parser.add_argument("--keep", type=Path, help="copy the logs of runs that lost alarms here")
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            logs = Path(tmp)
            extra = {"TIKE_SNAPSHOT_EVERY": "25", "TIKE_TICK_INTERVAL_S": "0.5"}
            if args.commit_interval is not None:
                extra["TIKE_COMMIT_INTERVAL_S"] = str(args.commit_interval)
            with worker_stack(logs, **extra) as (broker, _, worker):
                lost, never_ingested = asyncio.run(one_run(broker, worker, args.early))
            if lost and args.keep:
                shutil.copytree(
                    logs, args.keep / f"run-{run}", ignore=shutil.ignore_patterns("state")
                )
        print(f"run {run}: {lost} of 400 alarms lost ({never_ingested} never ingested)", flush=True)


if __name__ == "__main__":
    main()
