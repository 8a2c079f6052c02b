"""`tike record` with time bounds against the real (embedded) broker: only the records whose
broker timestamps fall in the window are written."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from simulators.replay import load, record
from tike import topics
from tike_cli.harness import producer

pytestmark = pytest.mark.asyncio(loop_scope="module")

AGES_MIN = (180, 120, 61, 59, 30, 9, 1)  # minutes before now


async def _produce(broker: str, now_ms: int) -> None:
    prod = await producer(broker)
    try:
        for age in AGES_MIN:  # one partition: the broker keeps them in this order
            value = f'{{"age_min": {age}}}'.encode()
            await prod.send_and_wait(
                topics.TRANSPORTS, value, key=b"k", partition=0, timestamp_ms=now_ms - age * 60_000
            )
    finally:
        await prod.stop()


async def test_record_writes_only_the_time_window(broker: str, tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    await _produce(broker, now_ms)

    # What the broker answers to an offset-for-time look-up (docs/embedded.md): the reader
    # must give the right records whether or not the answer is usable.
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topics.TRANSPORTS, 0)
        print(
            "offsets_for_times(-60 min):",
            await consumer.offsets_for_times({tp: now_ms - 60 * 60_000}),
        )
    finally:
        await consumer.stop()

    async def ages(since_min: float | None, until_min: float | None = None) -> list[int]:
        path = tmp_path / "rec.jsonl"
        since = 0 if since_min is None else now_ms - int(since_min * 60_000)
        until = None if until_min is None else now_ms - int(until_min * 60_000)
        await record(broker, [topics.TRANSPORTS], path, since, until)
        return [int(r.value.split(b":")[1].strip(b" }")) for r in load(path)]

    assert await ages(None) == list(AGES_MIN)
    assert await ages(60) == [59, 30, 9, 1]  # the last hour
    assert await ages(121, 60) == [120, 61]  # a window in the past, both ends inclusive
    assert await ages(120, 61) == [120, 61]
    assert await ages(None, 100) == [180, 120]  # up to a time


@pytest.mark.filterwarnings("ignore::pytest.PytestWarning")  # not async: runs the CLI
def test_the_cli_records_the_last_duration(broker: str, tmp_path: Path) -> None:
    out = tmp_path / "last.jsonl"
    since = (datetime.now(UTC) - timedelta(minutes=45)).isoformat()
    env = {"TIKE_KAFKA_BOOTSTRAP": broker, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tike_cli",
            "record",
            topics.TRANSPORTS,
            "--out",
            str(out),
            "--since",
            since,
            "--duration",
            "40m",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [orjson_age(line) for line in out.read_bytes().splitlines()] == [30, 9]
    assert "recorded 2 records" in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tike_cli",
            "record",
            topics.TRANSPORTS,
            "--out",
            str(out),
            "--duration",
            "10m",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [orjson_age(line) for line in out.read_bytes().splitlines()] == [9, 1]


def orjson_age(line: bytes) -> int:
    import orjson

    return int(orjson.loads(line)["value"]["age_min"])
