"""A worker killed with SIGKILL mid-stream: after restart every need arrives once, and no
need is offered twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from streams.kafka_log import partitions_of, read_partition
from tike import topics
from tike.examples import example
from tike_cli.gateway_client import responder
from tike_cli.harness import Collector, Worker, lost, producer

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOTAL = 400


@pytest.fixture(scope="module")
def worker_extra() -> dict[str, str]:
    # Snapshots every 25 journal records: the rebuild after the kill uses snapshot + tail.
    return {"TIKE_SNAPSHOT_EVERY": "25", "TIKE_TICK_INTERVAL_S": "0.5"}


def _alarms() -> list[dict[str, object]]:
    out = []
    for i in range(TOTAL):
        data: dict[str, object] = orjson.loads(example("safety_alarm").model_dump_json())
        data["device_id"] = f"dev-kill-{i % 37}"
        out.append(data)
    return out


async def off_board(absent: set[str], needs: Collector, board: Collector, worker: Worker) -> str:
    """Where the needs missing from the board stopped: never journalled by the situation
    agent, or journalled but its outputs never sent (tike.journal is read again from the
    start)."""
    at = sorted((r.partition, r.offset) for r in needs.records if r.json()["need_id"] in absent)
    bootstrap = worker.env["TIKE_KAFKA_BOOTSTRAP"]
    journalled: dict[str, tuple[int, int]] = {}
    for partition in await partitions_of(bootstrap, topics.JOURNAL):
        for value, _, offset in await read_partition(bootstrap, topics.JOURNAL, partition, 0):
            for out in orjson.loads(value)["outputs"]:
                delta = out["value"]
                if delta.get("entity") == "need" and delta.get("id") in absent:
                    journalled.setdefault(delta["id"], (partition, offset))
    board_reread = set()
    for partition in await partitions_of(bootstrap, topics.BOARD):
        for value, _, _ in await read_partition(bootstrap, topics.BOARD, partition, 0):
            delta = orjson.loads(value)
            if delta.get("entity") == "need":
                board_reread.add(delta.get("id"))
    return (
        f"{len(absent)} needs missing from the board ({len(absent & board_reread)} of them on "
        f"tike.board when it is read again); tike.needs (partition, offset) {at}; "
        f"{len(journalled)} journalled, at tike.journal {sorted(set(journalled.values()))}"
    )


async def kill_scenario(broker: str, worker: Worker, late: bool) -> None:
    """Kill the worker with SIGKILL mid-stream, restart it, and check every need and offer.

    ``late=False`` kills while ingest is a quarter through (needs on ``tike.needs``);
    ``late=True`` kills while the situation agent is (board deltas)."""
    alarms = _alarms()
    ids = {a["event_id"] for a in alarms}
    needs = await Collector(broker, topics.NEEDS).start()
    intake = await Collector(broker, topics.INTAKE).start()
    board = await Collector(broker, topics.BOARD).start()
    dispatches = await Collector(broker, topics.DISPATCHES).start()
    prod = await producer(broker)
    try:
        for team_id in ("big-a", "big-b"):
            status = responder(team_id, capacity=50, coverage=["743"])
            await prod.send_and_wait(topics.TEAM_STATUS, orjson.dumps(status))
        await board.wait(lambda d: d["entity"] == "team" and d["id"] == "big-b")
        placed: dict[object, asyncio.Future[Any]] = {}
        for a in alarms[: TOTAL // 2]:
            placed[a["event_id"]] = await prod.send(
                topics.ALARMS, orjson.dumps(a), key=str(a["device_id"]).encode()
            )
        await prod.flush()
        # Kill while the first half is still being processed.
        progress = board if late else needs
        deadline = time.monotonic() + 60
        while len(progress.matching(lambda d: d.get("entity", "need") == "need")) < TOTAL // 4:
            assert time.monotonic() < deadline, "worker did not start processing"
            await asyncio.sleep(0.01)
        worker.kill()
        done_before = len(needs.matching(lambda n: n["origin"]["event_id"] in ids))
        for a in alarms[TOTAL // 2 :]:
            placed[a["event_id"]] = await prod.send(
                topics.ALARMS, orjson.dumps(a), key=str(a["device_id"]).encode()
            )
        # Redeliver some already-processed inputs, as an upstream retry would.
        for a in alarms[:20]:
            await prod.send(topics.ALARMS, orjson.dumps(a), key=str(a["device_id"]).encode())
        await prod.flush()
        started = time.monotonic()
        await asyncio.to_thread(worker.start, 90)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            got = {
                n["origin"]["event_id"]
                for n in needs.matching(lambda n: n["origin"]["event_id"] in ids)
            }
            if got == ids:
                break
            await asyncio.sleep(0.2)
        counts = Counter(
            n["need_id"] for n in needs.matching(lambda n: n["origin"]["event_id"] in ids)
        )
        missing = ids - {n["origin"]["event_id"] for n in needs.matching(lambda n: True)}
        print(
            f"needs before kill {done_before}/{TOTAL}; "
            f"recovered in {time.monotonic() - started:.1f} s"
        )
        assert not missing, await lost(missing, placed, intake, worker) if missing else ""
        repeated = {k: v for k, v in counts.items() if v > 1}
        assert not repeated, f"needs repeated: {repeated}"
        assert len(counts) == TOTAL
        # Every need reached the board, and no need was offered twice.
        need_ids = set(counts)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            on_board = {d["id"] for d in board.matching(lambda d: d["entity"] == "need")}
            if need_ids <= on_board:
                break
            await asyncio.sleep(0.2)
        if not need_ids <= on_board:
            raise AssertionError(await off_board(need_ids - on_board, needs, board, worker))
        offers = dispatches.matching(
            lambda d: d.get("kind") == "dispatch" and d["need_id"] in need_ids
        )
        per_need: dict[str, set[str]] = {}
        for o in offers:
            per_need.setdefault(o["need_id"], set()).add(o["dispatch_id"])
        assert all(len(v) == 1 for v in per_need.values()), "a need was offered twice"
        assert len(per_need) == 100  # two teams of capacity 50; the rest go to the control room
        copies = Counter((o["dispatch_id"], o["version"]) for o in offers)
        print(
            f"offers: {len(per_need)} needs, {sum(copies.values())} dispatch records, "
            f"{sum(v - 1 for v in copies.values())} identical re-sent copies"
        )
        escalated = board.matching(
            lambda d: (
                d["entity"] == "need" and d["id"] in need_ids and d["data"]["phase"] == "escalated"
            )
        )
        assert len({d["id"] for d in escalated}) == TOTAL - 100
    finally:
        await prod.stop()
        for c in (needs, intake, board, dispatches):
            await c.stop()


async def test_sigkill_during_ingest_loses_no_need_and_repeats_none(
    broker: str, worker: Worker
) -> None:
    await kill_scenario(broker, worker, late=False)
