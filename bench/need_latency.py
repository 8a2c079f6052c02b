"""End-to-end latency of the ingest path: an alarm produced to tike.in.alarms until its need
is on tike.needs, on the embedded stack, including the first event after an idle period.

    .venv/bin/python bench/need_latency.py [--events 200] [--idle 60]

Starts its own broker and worker (embedded profile) on free ports and prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaProducer

from simulators.collect import Collector
from streams.kafka_admin import ensure_topics, wait_for_broker
from tike import topics
from tike.examples import example
from tike_cli.embedded import broker_command, free_port, spawn, tike_command, wait_port


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _one(prod: AIOKafkaProducer, needs: Collector) -> float:
    alarm = example("safety_alarm")
    started = time.monotonic()
    await prod.send_and_wait(topics.ALARMS, alarm.model_dump_json().encode())
    rec = await needs.wait(lambda n: n["origin"]["event_id"] == alarm.event_id, timeout=30)
    return (rec.at - started) * 1000


async def measure(bootstrap: str, events: int, idle_s: float) -> dict[str, object]:
    needs = await Collector(bootstrap, topics.NEEDS).start()
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await prod.start()
    try:
        first = await _one(prod, needs)  # also warms up: partitions loaded, connections open
        paced = []
        for _ in range(events):
            paced.append(await _one(prod, needs))
            await asyncio.sleep(0.05)
        await asyncio.sleep(idle_s)
        after_idle = await _one(prod, needs)
    finally:
        await prod.stop()
        await needs.stop()
    return {
        "events": events,
        "paced_every_ms": 50,
        "latency_ms": {
            "p50": round(statistics.median(paced), 1),
            "p90": round(_pct(paced, 0.90), 1),
            "p99": round(_pct(paced, 0.99), 1),
            "max": round(max(paced), 1),
        },
        "first_after_idle": {"idle_s": idle_s, "latency_ms": round(after_idle, 1)},
        "first_after_ready_ms": round(first, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    port, metrics = free_port(), free_port()
    bootstrap = f"127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = (Path(tmp) / "stack.log").open("ab")
        broker = spawn("broker", broker_command(port), log=log)
        worker = None
        try:
            assert wait_port(port, 20)
            asyncio.run(wait_for_broker(bootstrap))
            asyncio.run(ensure_topics(bootstrap, 8))
            env = {k: v for k, v in os.environ.items() if not k.startswith("TIKE_")}
            env.update(
                TIKE_KAFKA_BOOTSTRAP=bootstrap,
                TIKE_KAFKA_PROFILE="embedded",
                TIKE_METRICS_PORT=str(metrics),
                TIKE_STATE_DIR=str(Path(tmp) / "state"),
                TIKE_LOG_LEVEL="warning",
            )
            spawned = time.monotonic()
            worker = spawn("worker", tike_command("worker"), env=env, log=log)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics").read()
                    if b"tike_worker_up 1.0" in body:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            ready_s = time.monotonic() - spawned
            result = asyncio.run(measure(bootstrap, args.events, args.idle))
            result["worker_ready_s"] = round(ready_s, 1)
            print(json.dumps(result, indent=2))
        finally:
            if worker is not None:
                worker.stop()
            broker.stop()


if __name__ == "__main__":
    main()
