"""Measure the embedded broker's behaviours that Tike works around (docs/embedded.md).

    .venv/bin/python bench/broker_probe.py

Starts its own Tansu broker on a free port and prints one line per finding.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tike_cli.embedded import broker_command, free_port, spawn, wait_port


async def fetch_wait(
    bootstrap: str, wait_ms: int, topic: str = "probe-wait", gap_s: float = 0.05
) -> float:
    """Median produce-to-consume latency (ms) with a given fetch_max_wait_ms."""
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    cons = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=wait_ms
    )
    await prod.start()
    await cons.start()
    await asyncio.sleep(0.5)
    lat = []
    for _ in range(10):
        await asyncio.sleep(gap_s)
        t = time.perf_counter()
        await prod.send_and_wait(topic, b"x", partition=0)
        await cons.getone()
        lat.append((time.perf_counter() - t) * 1000)
    await prod.stop()
    await cons.stop()
    return statistics.median(lat)


async def offsets(bootstrap: str) -> None:
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await prod.start()
    base = int(time.time() * 1000)
    for i in range(20):
        await prod.send("probe-offsets", b"v", timestamp_ms=base + i * 1000)
    await prod.flush()
    await prod.stop()
    cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=5)
    await cons.start()
    tp = TopicPartition("probe-offsets", 0)
    cons.assign([tp])
    latest = (await cons.end_offsets([tp]))[tp]
    at10 = (await cons.offsets_for_times({tp: base + 10_000}))[tp]
    await cons.seek_to_beginning(tp)
    await cons.getmany(timeout_ms=500)
    print("20 records produced in one batch, timestamps 1 s apart:")
    print(f"  ListOffsets(latest)      -> {latest} (true end: 20)")
    print(f"  Fetch high watermark     -> {cons.highwater(tp)}")
    print(f"  offsets_for_times(+10 s) -> {at10} (true: offset 10)")
    await cons.stop()


async def main(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics(
        [
            NewTopic("probe-wait", 1, 1),
            NewTopic("probe-wait4", 4, 1),
            NewTopic("probe-offsets", 1, 1),
        ]
    )
    await admin.close()
    print("Fetch long poll (median produce->consume latency, ms):")
    for gap in (0.02, 0.05, 0.1, 0.3):
        for wait in (500, 100, 5):
            ms = await fetch_wait(bootstrap, wait, "probe-wait4", gap)
            print(
                f"  idle {gap * 1000:>3.0f} ms before each send, "
                f"fetch_max_wait_ms={wait:<4} -> {ms:.1f}"
            )
    await offsets(bootstrap)


if __name__ == "__main__":
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        with (Path(tmp) / "broker.log").open("ab") as log:
            broker = spawn("broker", broker_command(port), log=log)
        try:
            assert wait_port(port, 20)
            asyncio.run(main(f"127.0.0.1:{port}"))
        finally:
            broker.stop()
