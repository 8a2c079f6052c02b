"""Two workers, alarms flowing at ~200/s, one SIGKILLed: the survivor takes over its
partitions within 1.5 x the session timeout (plus a measured slack), and no need is lost or
repeated.

The worker killed is the one holding the situation partition: every example alarm is in one
region, so that worker makes every routing decision, and the gap in ``tike.decisions`` is
exactly the time its partitions had no owner plus the survivor's rebuild of them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.kafka_log import partitions_of, read_partition
from tests.integration.test_restart import lost as where_lost
from tike import topics
from tike.records import stable_id
from tike.settings import WorkerSettings
from tike_cli.harness import (
    Collector,
    Feeder,
    Worker,
    assigned,
    log_times,
    second_worker,
    wait_decided,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

RATE = 200.0  # alarms per second
AFTER_KILL_S = 12.0  # alarms keep flowing this long after the kill

#: How much later than 1.5 x the session timeout the survivor may hold the partitions,
#: measured (docs/performance.md, "Failover"): the broker expires a member and completes a
#: join on whole-second ticks, and the survivor hears of the rebalance at its next heartbeat
#: (session / 5). Synced 5.5-6.5 s after the kill with the 4 s default.
SYNC_SLACK_S = 1.5
#: And until its first decision: it rebuilds the moved situation partition from its snapshot
#: and journal tail, and fetches again: 0.2-1.6 s after the sync in this test, up to 2.5 s in
#: bench/restart_probe.py with 8,000 needs on a loaded machine.
SLACK_S = SYNC_SLACK_S + 2.0


def held(w: Worker, topic: str) -> set[int]:
    return assigned(w.log_path, topic)


def shared(a: Worker, b: Worker) -> bool:
    """Both workers hold input partitions, and none twice."""
    mine, theirs = held(a, topics.ALARMS), held(b, topics.ALARMS)
    return bool(mine) and bool(theirs) and mine.isdisjoint(theirs)


@pytest.fixture(scope="module")
def session_timeout() -> float:
    """The embedded profile's default, which is what this test is about."""
    return WorkerSettings(kafka_profile="embedded", session_timeout_s=None).session_timeout


@pytest.fixture(scope="module")
def worker_extra() -> dict[str, str]:
    # Snapshots every 100 journal records: the survivor rebuilds from snapshot + tail. The
    # 500 devices send every 2.5 s: no device falls silent (the harness's 3 s) under load.
    return {
        "TIKE_SNAPSHOT_EVERY": "100",
        "TIKE_TICK_INTERVAL_S": "0.5",
        "TIKE_HEARTBEAT_TIMEOUT_S": "900",
    }


@pytest.fixture(scope="module")
def other(worker: Worker, logs: Path) -> Iterator[Worker]:
    w = second_worker(worker, logs / "worker-2.log", logs / "state-2")
    w.start(90)
    yield w
    w.stop()


async def test_survivor_takes_over_a_killed_worker(
    broker: str, worker: Worker, other: Worker, session_timeout: float
) -> None:
    # Both workers hold partitions (the first rebalanced when the second joined).
    deadline = time.monotonic() + 60
    while not shared(worker, other):
        assert time.monotonic() < deadline, "the two workers did not share the partitions"
        await asyncio.sleep(0.2)
    needs = await Collector(broker, topics.NEEDS).start()
    decisions = await Collector(broker, topics.DECISIONS).start()
    intake = await Collector(broker, topics.INTAKE).start()
    feeder = await Feeder(broker, RATE).start()
    try:
        first = await needs.wait(lambda n: True, timeout=60)
        await asyncio.sleep(3)
        # tike.needs is co-partitioned with tike.intake: the region's situation partition.
        owners = [
            w for w in (worker, other) if first.partition in assigned(w.log_path, topics.INTAKE)
        ]
        assert len(owners) == 1, "the situation partition has no single owner"
        victim = owners[0]
        survivor = other if victim is worker else worker
        killed_wall, killed = time.time(), time.monotonic()
        victim.kill()
        await asyncio.sleep(AFTER_KILL_S)
    finally:
        await feeder.stop()
    flow_end = time.monotonic()
    want = {stable_id("need", "alarm", e): e for e in feeder.sent}
    # The backlog is worked off at the pipeline's pace (about 150 decisions/s on this machine).
    await wait_decided(decisions, want, 90)
    await needs.stop()
    await decisions.stop()
    await intake.stop()

    counts = Counter(r.json()["need_id"] for r in needs.records)
    decided: dict[str, float] = {}
    for r in decisions.records:
        decided.setdefault(r.json()["need_id"], r.at)
    lines = log_times(survivor.log_path, killed_wall)
    synced = next((at - killed_wall for at, m in lines if "Successfully synced group" in m), None)
    rebuilt = [m.split(": ", 1)[1] for _, m in lines if "situation rebuilt" in m]
    arrivals = sorted(at for at in decided.values() if killed - 2 < at < flow_end)
    gap = max(b - a for a, b in itertools.pairwise(arrivals))
    latency = sorted(decided[n] - feeder.sent[e] for n, e in want.items() if n in decided)
    took = "never" if synced is None else f"{synced:.2f} s"
    print(
        f"session {session_timeout} s; {len(want)} alarms; survivor synced {took} after the "
        f"kill; largest gap in decisions {gap:.2f} s; alarm->decision p50 "
        f"{latency[len(latency) // 2]:.2f} s, max {latency[-1]:.2f} s; survivor: {rebuilt}"
    )

    if any(counts[n] == 0 for n in want):
        # The live reader can pass over records the embedded broker makes visible late
        # (docs/embedded.md); what counts is the topic, so read it again from the start.
        bootstrap = survivor.env["TIKE_KAFKA_BOOTSTRAP"]
        counts = Counter()
        for partition in await partitions_of(bootstrap, topics.NEEDS):
            for value, _, _ in await read_partition(bootstrap, topics.NEEDS, partition, 0):
                counts[orjson.loads(value)["need_id"]] += 1
    lost = {want[n] for n in want if counts[n] == 0}
    if lost:
        why = await where_lost(set(lost), feeder.placed, intake, survivor)
        raise AssertionError(f"{len(lost)} of {len(want)} needs never reached tike.needs: {why}")
    undecided = [n for n in want if n not in decided]
    assert not undecided, f"{len(undecided)} of {len(want)} needs have no decision"
    repeated = {n: c for n, c in counts.items() if n in want and c > 1}
    assert not repeated, f"needs repeated on tike.needs: {repeated}"
    assert victim.alive() is False and survivor.alive()
    limit = 1.5 * session_timeout + SLACK_S
    assert synced is not None and synced <= 1.5 * session_timeout + SYNC_SLACK_S, (
        f"the survivor took the partitions {synced} s after the kill"
    )
    assert gap <= limit, f"no decision for {gap:.2f} s (limit {limit:.1f} s)"
