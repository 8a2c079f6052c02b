"""A worker killed with SIGKILL mid-stream: after restart every need arrives, once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import orjson
import pytest

from tests.integration.harness import Collector, Worker, producer
from tike import topics
from tike.examples import example

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOTAL = 400


def _alarms() -> list[dict[str, object]]:
    out = []
    for i in range(TOTAL):
        data: dict[str, object] = orjson.loads(example("safety_alarm").model_dump_json())
        data["device_id"] = f"dev-kill-{i % 37}"
        out.append(data)
    return out


async def test_sigkill_mid_stream_loses_no_need_and_repeats_none(
    broker: str, worker: Worker
) -> None:
    alarms = _alarms()
    ids = {a["event_id"] for a in alarms}
    needs = await Collector(broker, topics.NEEDS).start()
    prod = await producer(broker)
    try:
        for a in alarms[: TOTAL // 2]:
            await prod.send(topics.ALARMS, orjson.dumps(a), key=str(a["device_id"]).encode())
        await prod.flush()
        # Kill while the first half is still being processed.
        deadline = time.monotonic() + 30
        while len(needs.matching(lambda n: n["origin"]["event_id"] in ids)) < TOTAL // 4:
            assert time.monotonic() < deadline, "worker did not start processing"
            await asyncio.sleep(0.01)
        worker.kill()
        done_before = len(needs.matching(lambda n: n["origin"]["event_id"] in ids))
        for a in alarms[TOTAL // 2 :]:
            await prod.send(topics.ALARMS, orjson.dumps(a), key=str(a["device_id"]).encode())
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
        assert not missing, f"{len(missing)} needs lost"
        repeated = {k: v for k, v in counts.items() if v > 1}
        assert not repeated, f"needs repeated: {repeated}"
        assert len(counts) == TOTAL
    finally:
        await prod.stop()
        await needs.stop()
