"""Hostile input at scale: 100,000 generated hostile records (simulators/hostile.py) with a
valid alarm among every hundred, through one worker on the embedded stack. Every record must
be dead-lettered with a reason, every alarm must become a need, and the worker must stay up.

    .venv/bin/python bench/fuzz_worker.py [--records 100000] [--seed 100]

Starts its own broker, Redis and worker on free ports and prints JSON (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tike_cli.harness import fuzz_worker, worker_stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, worker_stack(Path(tmp)) as (broker, _, worker):
        result = asyncio.run(fuzz_worker(broker, worker, args.records, args.seed, args.timeout))
    report = {
        "records": result.sent,
        "dead_lettered": sum(result.reasons.values()),
        "not_dead_lettered": len(result.missing),
        "without_reason": result.without_reason,
        "valid_alarms_not_needs": result.needs_missing,
        "worker_alive": result.worker_alive,
        "seconds": round(result.seconds, 1),
        "records_per_s": round(result.sent / result.seconds) if result.seconds else None,
        "reasons": dict(result.reasons.most_common()),
    }
    print(json.dumps(report, indent=2))
    ok = not result.missing and not result.needs_missing and result.worker_alive
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
