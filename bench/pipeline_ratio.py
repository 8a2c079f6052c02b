"""Pipeline ratio: Tike's ingest + route against a bare aiokafka consume→decode→produce loop,
on the same events, the same broker, in the same run.

    .venv/bin/python bench/pipeline_ratio.py [--events 3000]

Run from another checkout's directory (``cd ../old && python /path/to/bench/...``), the worker
is that checkout's code: how the previous code is measured in the same command.

Tike: alarms produced in one burst to tike.in.alarms until every routing decision is on
tike.decisions (ingest, dedup, the situation agent with rules and team selection, the
outbox). Bare: the same alarm bytes on a topic of their own, read by one aiokafka consumer
that decodes each with orjson and produces it to an output topic, until every output is read.
Prints JSON with events/s of both and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.collect import Collector
from tike import topics
from tike.examples import example
from tike_cli import harness
from tike_cli.harness import worker_stack

if not (Path.cwd() / "tike_cli").is_dir() and (Path.cwd() / "tike" / "__main__.py").is_file():
    # A checkout from before the layer packages: its command line is `python -m tike`.
    harness.tike_command = lambda *args: [sys.executable, "-m", "tike", *args]

BARE_IN, BARE_OUT = "bench.bare.in", "bench.bare.out"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def pid_listening(port: str) -> int | None:
    """The process whose command line names ``port`` (the embedded broker's listener)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if f"127.0.0.1:{port}".encode() in cmd and b"broker" in cmd:
                return int(entry.name)
    return None


def alarms(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        a = orjson.loads(example("safety_alarm").model_dump_json())
        a["device_id"] = f"bench-dev-{i % 500}"
        out.append(orjson.dumps(a))
    return out


async def produce(bootstrap: str, topic: str, values: list[bytes], keyed: bool = False) -> None:
    """Produce ``values``; ``keyed``: each keyed by its device id, as a SCAIP receiver would
    (then the worker supervises the device in the ingest agent, streams/devices.py)."""
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await prod.start()
    try:
        for v in values:
            key = orjson.loads(v)["device_id"].encode() if keyed else None
            await prod.send(topic, v, key=key)
        await prod.flush()
    finally:
        await prod.stop()


async def wait_count(collector: Collector, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while len(collector.records) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{collector.topic}: {len(collector.records)} of {n}")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def bare_loop(bootstrap: str, n: int) -> None:
    consumer = AIOKafkaConsumer(
        BARE_IN,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await consumer.start()
    await prod.start()
    done = 0
    try:
        while done < n:
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for msgs in batch.values():
                for msg in msgs:
                    doc = orjson.loads(msg.value)
                    await prod.send(BARE_OUT, orjson.dumps(doc))
                    done += 1
        await prod.flush()
    finally:
        await consumer.stop()
        await prod.stop()


async def bare_seconds(bootstrap: str, values: list[bytes]) -> float:
    """Seconds the bare loop takes over ``values``; the inputs are all on its topic before it
    starts (``BARE_IN`` and ``BARE_OUT`` must exist)."""
    await produce(bootstrap, BARE_IN, values)
    out = await Collector(bootstrap, BARE_OUT).start()
    started = time.monotonic()
    await bare_loop(bootstrap, len(values))
    took = await wait_count(out, len(values), 300) - started
    await out.stop()
    return took


async def measure(bootstrap: str, n: int, worker_pid: int, keyed: bool) -> dict[str, object]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(BARE_IN, 1, 1), NewTopic(BARE_OUT, 1, 1)])
    await admin.close()
    values = alarms(n)
    bare_s = await bare_seconds(bootstrap, values)
    decisions = await Collector(bootstrap, topics.DECISIONS).start()
    needs = await Collector(bootstrap, topics.NEEDS).start()
    broker_pid = pid_listening(bootstrap.rsplit(":", 1)[1])
    pids = {"worker": worker_pid, "broker": broker_pid}
    cpu_before = {k: cpu_seconds(p) for k, p in pids.items() if p}
    started = time.monotonic()
    await produce(bootstrap, topics.ALARMS, values, keyed)
    ingest_s = await wait_count(needs, n, 600) - started
    tike_s = await wait_count(decisions, n, 600) - started
    cpu = {k: cpu_seconds(pids[k]) - v for k, v in cpu_before.items()}
    await decisions.stop()
    await needs.stop()
    return {
        "events": n,
        "bare_events_per_s": round(n / bare_s, 1),
        "tike_events_per_s": round(n / tike_s, 1),
        "tike_ingest_only_events_per_s": round(n / ingest_s, 1),
        "ratio_tike_to_bare": round(bare_s / tike_s, 3),
        "alarms_keyed_by_device": keyed,
        "cpu_ms_per_event": {k: round(1000 * v / n, 3) for k, v in cpu.items()},
        "cpu_share_during_tike": {k: round(v / tike_s, 2) for k, v in cpu.items()},
        "note": "Tike includes produce time of the burst; bare starts with inputs present",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    unkeyed = "produce the alarms without a key (any key is accepted)"
    parser.add_argument("--unkeyed", action="store_true", help=unkeyed)
    setting = "a worker setting for this run (repeatable)"
    parser.add_argument("--set", action="append", default=[], metavar="TIKE_X=VALUE", help=setting)
    args = parser.parse_args()
    # Device supervision as deployed (the test harness makes devices fall silent after 3 s,
    # which would turn most of the burst's devices into silent-device needs as well).
    supervision = {"TIKE_HEARTBEAT_TIMEOUT_S": "900", "TIKE_SILENCE_CHECK_INTERVAL_S": "30"}
    supervision.update(item.split("=", 1) for item in args.set)
    logs = Path(tempfile.mkdtemp(prefix="tike-ratio-"))
    with worker_stack(logs, **supervision) as (broker, _, worker):
        assert worker.child is not None
        pid = worker.child.proc.pid
        result = asyncio.run(measure(broker, args.events, pid, not args.unkeyed))
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
