"""Idle cost of `tike up` and the first event after a long idle period.

    .venv/bin/python bench/idle_cpu.py [--seconds 60] [--idle 600]

Starts `tike up` (embedded broker, Redis, worker, gateway; no simulator) in a temporary
directory, waits until it says it is up and 20 s more to settle, then adds up the CPU time of
its whole process tree (from /proc) over ``--seconds``. It then waits ``--idle`` seconds more
and produces one alarm: the latency is the routing decision's Kafka timestamp (set by the
worker's producer) minus the alarm's send time, so the reader's own poll does not count.
With ``--probes N`` it sends N - 1 more alarms, each ``--gap`` seconds after the previous
one (long enough for the worker's consumer to fall back to its idle wait), and prints their
p50 and max. Prints JSON: CPU per process in % of one core, the total, and the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tike import topics
from tike.examples import example
from tike_cli.harness import interrupt, stack_ports

TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> dict[int, str]:
    """``pid`` and its descendants, with their command lines."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except OSError:
                continue
    found, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    out = {}
    for p in found:
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        out[p] = " ".join(a.decode() for a in argv[:4] if a)[:80]
    return out


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


async def decisions_after_idle(bootstrap: str, probes: int, gap_s: float) -> list[float]:
    """One alarm, then ``probes - 1`` more, each ``gap_s`` after the previous decision."""
    out = [await first_decision_after_idle(bootstrap)]
    for _ in range(probes - 1):
        await asyncio.sleep(gap_s)
        out.append(await first_decision_after_idle(bootstrap))
    return out


async def first_decision_after_idle(bootstrap: str) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    await consumer.topics()
    found = consumer.partitions_for_topic(topics.DECISIONS) or {0}
    parts = [TopicPartition(topics.DECISIONS, p) for p in sorted(found)]
    consumer.assign(parts)
    for tp in parts:
        await consumer.seek_to_end(tp)
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await prod.start()
    alarm = example("safety_alarm").model_copy(update={"event_id": f"idle-{time.time_ns()}"})
    sent_ms = time.time() * 1000
    await prod.send_and_wait(topics.ALARMS, alarm.model_dump_json().encode())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                for msg in msgs:  # the stack is idle: the first decision is this alarm's
                    assert orjson.loads(msg.value)["kind"] == "routing_decision"
                    return msg.timestamp - sent_ms
        raise TimeoutError("no decision within 30 s")
    finally:
        await prod.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--idle", type=float, default=600)
    parser.add_argument("--settle", type=float, default=20)
    parser.add_argument("--probes", type=int, default=1, help="alarms after the idle period")
    parser.add_argument("--gap", type=float, default=7.0, help="idle seconds between probes")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tike-idle-"))
    # TIKE_* settings pass through (e.g. TIKE_FETCH_MAX_WAIT_MS)
    env = stack_ports(dict(os.environ, TIKE_RUN_DIR=str(tmp / "run")))
    kafka = int(env["TIKE_EMBEDDED_KAFKA_PORT"])
    argv = [sys.executable, "-m", "tike_cli", "up"]
    out = subprocess.PIPE
    proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if "Stop with Ctrl-C" in line:
                break
        else:
            raise SystemExit("tike up did not come up")
        # Keep draining its output so it never blocks on a full pipe.
        import threading

        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        time.sleep(args.settle)
        procs = tree(proc.pid)
        before = {p: cpu_ticks(p) for p in procs}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        usage = {p: 100 * (cpu_ticks(p) - before[p]) / TICKS / elapsed for p in procs}
        result: dict[str, object] = {
            "seconds": round(elapsed, 1),
            "cpu_percent_of_one_core": {procs[p]: round(u, 2) for p, u in usage.items() if u},
            "total_cpu_percent": round(sum(usage.values()), 2),
        }
        if args.idle > 0:
            time.sleep(args.idle)
            bootstrap = f"127.0.0.1:{kafka}"
            latencies = asyncio.run(decisions_after_idle(bootstrap, args.probes, args.gap))
            result["idle_s_before_event"] = args.seconds + args.idle
            result["first_event_to_decision_ms"] = round(latencies[0], 1)
            if args.probes > 1:
                later = sorted(latencies[1:])
                result[f"then_{len(later)}_events_each_after_{args.gap:g}_s_idle_ms"] = {
                    "p50": round(later[len(later) // 2], 1),
                    "max": round(later[-1], 1),
                    "all": [round(x, 1) for x in latencies[1:]],
                }
        print(json.dumps(result, indent=2))
    finally:
        interrupt(proc)


if __name__ == "__main__":
    main()
