"""`tike record` and `tike replay` against the real broker and worker: a recording replayed
fresh becomes new needs; replayed as it is, it is recognised as redelivered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from simulators.replay import load, record, replay
from tests.integration.conftest import Send
from tike import topics
from tike.examples import example
from tike_cli.harness import Collector, Worker

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def worker_extra() -> dict[str, str]:
    return {"TIKE_LOG_FORMAT": "json"}


def _duplicates(worker: Worker) -> float:
    """Redelivered needs dropped so far, over every region."""
    lines = worker.metrics().splitlines()
    return sum(float(x.split()[-1]) for x in lines if x.startswith("tike_duplicate_needs_total{"))


async def test_a_recording_replays_at_speed_as_new_needs_or_as_redeliveries(
    broker: str, worker: Worker, send: Send, tmp_path: Path
) -> None:
    needs = await Collector(broker, topics.NEEDS).start()
    try:
        sent = []
        for i in range(12):
            alarm = orjson.loads(example("safety_alarm").model_dump_json())
            alarm["device_id"] = f"dev-replay-{i}"
            sent.append(alarm["event_id"])
            await send(topics.ALARMS, orjson.dumps(alarm), key=alarm["device_id"].encode())
            await asyncio.sleep(0.1)
        await needs.wait(lambda n: n["origin"]["event_id"] == sent[-1], timeout=30)

        path = tmp_path / "night.jsonl"
        count = await record(broker, [topics.ALARMS], path)
        assert count == 12
        recorded = load(path)
        span_s = (recorded[-1].ts - recorded[0].ts) / 1000
        assert span_s >= 1.0  # eleven gaps of at least 0.1 s

        result = await replay(broker, recorded, speed=4.0, fresh=True)
        assert result.sent == 12
        assert result.seconds >= span_s / 4 * 0.9  # the recorded gaps, four times faster
        fresh = lambda n: n["origin"]["event_id"] not in sent  # noqa: E731
        deadline = asyncio.get_running_loop().time() + 30
        while len(needs.matching(fresh)) < 12:
            assert asyncio.get_running_loop().time() < deadline, "fresh replay made no needs"
            await asyncio.sleep(0.1)
        assert all(n["synthetic"] for n in needs.matching(fresh))

        before = len(needs.records)
        duplicates = _duplicates(worker)
        await replay(broker, recorded, speed=50.0)  # as recorded: the same event ids
        deadline = asyncio.get_running_loop().time() + 30
        while _duplicates(worker) < duplicates + 12:
            assert asyncio.get_running_loop().time() < deadline, "redeliveries not recognised"
            await asyncio.sleep(0.1)
        assert len(needs.records) == before  # no need twice

        # The worker's JSON log says which record and need each drop was about.
        lines = [
            orjson.loads(x) for x in worker.log_path.read_bytes().splitlines() if x.startswith(b"{")
        ]
        drops = [x for x in lines if x["msg"].startswith("duplicate need")]
        assert len(drops) >= 12
        assert all(x["msg"] == f"duplicate need {x['need_id']} dropped" for x in drops)
        assert all(x["record"].startswith("tike.intake[") and x["region"] for x in drops)
        assert any(x["logger"].startswith("faust") for x in lines)  # Faust's own lines too
    finally:
        await needs.stop()
