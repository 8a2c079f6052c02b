"""Decode cost per input record, with and without the raw-bytes screen, in one run.

    .venv/bin/python bench/decode_bench.py [--records 20000]

Records: a load test's own traffic (the ``normal-night`` scenario's events, mostly device
heartbeats) as the simulator encodes them. Each record is decoded by ``tike_core.decode``
as the ingest agent does, once with the screen (this code) and once with it switched off
(every string walked for identity codes and control characters, as before), alternating
rounds so that drift on a shared machine hits both. Prints µs per record, the ratio, and the
share of records the screen cleared.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tike_core.decode as decode_module
from simulators.basic import BasicSimulator, stamp
from simulators.scenario import scenario_for
from tike import topics
from tike.events import screened
from tike.regions import load_registry
from tike_core.decode import decode


def scenario_records(name: str, count: int) -> list[tuple[str, bytes]]:
    """``count`` input records of scenario ``name``, encoded as `tike loadtest` sends them."""
    from datetime import UTC, datetime

    region = next(iter(load_registry().regions.values()))
    sim = BasicSimulator(region, seed=1, rate=25, scenario=scenario_for(name))
    out: list[tuple[str, bytes]] = []
    t = 0.0
    while len(out) < count:
        t += 60.0
        for _, (topic, _key, event) in sim.events_until(t):
            if topic in topics.INPUT_KINDS:
                event = stamp(event, datetime.now(UTC))
                out.append(
                    (topics.INPUT_KINDS[topic], event.__pydantic_serializer__.to_json(event))
                )
    return out[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    records = scenario_records("normal-night", args.records)
    real = decode_module.screened
    timings: dict[str, list[float]] = {"screen": [], "walk": []}
    for _ in range(args.rounds):
        for name, screen in (("screen", real), ("walk", lambda raw: False)):
            decode_module.screened = screen
            started = time.perf_counter()
            for kind, raw in records:
                decode(raw, kind, 65536)
            timings[name].append((time.perf_counter() - started) / len(records) * 1e6)
    decode_module.screened = real
    best = {k: min(v) for k, v in timings.items()}
    print(
        json.dumps(
            {
                "records": len(records),
                "us_per_record_best_of_rounds": {k: round(v, 2) for k, v in best.items()},
                "screen_over_walk": round(best["screen"] / best["walk"], 3),
                "cleared_by_screen": round(sum(screened(r) for _, r in records) / len(records), 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
