"""Where the worker's time goes: py-spy samples a worker working through a burst of alarms.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/worker_profile.py [--alarms 4000] [--seconds 15] [--out DIR]

Starts the embedded broker, Redis and one worker, produces the burst, records the worker for
the given seconds at 200 Hz, and prints the functions with the most samples (self and
inclusive). docs/performance.md has a run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import orjson

from tike import topics
from tike.examples import example
from tike_cli.harness import producer, worker_stack


def top(raw: Path, n: int = 15) -> None:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        frames, k = stack.split(";"), int(count)
        total += k
        self_time[frames[-1]] += k
        for frame in set(frames):
            inclusive[frame] += k
    print(f"{total} samples")
    for title, counter in (("self", self_time), ("inclusive", inclusive)):
        print(f"--- {title}")
        for frame, k in counter.most_common(n):
            print(f"{100 * k / total:5.1f}%  {frame[:140]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alarms", type=int, default=4000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="tike-prof-")))
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    args = parser.parse_args()
    logs = args.out
    logs.mkdir(parents=True, exist_ok=True)
    # Device supervision as deployed (the harness's 3 s silence would add silent-device needs).
    supervision = {"TIKE_HEARTBEAT_TIMEOUT_S": "900", "TIKE_SILENCE_CHECK_INTERVAL_S": "30"}
    with worker_stack(logs, **supervision) as (broker, _, worker):

        async def burst() -> None:
            prod = await producer(broker)
            for i in range(args.alarms):
                alarm = orjson.loads(example("safety_alarm").model_dump_json())
                alarm["device_id"] = f"d-{i % 200}"
                key = alarm["device_id"].encode()
                await prod.send(topics.ALARMS, orjson.dumps(alarm), key=key)
            await prod.flush()
            await prod.stop()

        asyncio.run(burst())
        assert worker.child is not None
        raw = logs / "raw.txt"
        spy = str(Path(sys.executable).parent / "py-spy")
        pid = str(worker.child.proc.pid)
        argv = [spy, "record", "--pid", pid, "-d", str(args.seconds), "-r", "200"]
        if args.gil:
            argv.append("--gil")  # only samples holding the GIL: Python's own work
        subprocess.run([*argv, "--format", "raw", "-o", str(raw), "--nonblocking"], check=True)
        top(raw)


if __name__ == "__main__":
    main()
