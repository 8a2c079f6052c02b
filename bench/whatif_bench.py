"""Seconds to replay a recorded day, both runs of a what-if included (target: under 30 s).

    .venv/bin/python bench/whatif_bench.py [--recording DAY.jsonl] [--repeats 3]

Without ``--recording`` it first records a day of the seeded simulator's regional traffic
for South Ostrobothnia (every device's heartbeats, team reports every minute, alarms,
transports and 116117 calls at the region's rates) to a temporary file in ``tike record``'s
format, without a broker; that recording is not timed. Timed, as ``tike whatif FILE`` runs:

- ``read+prepare``: read the JSON Lines file, decode and normalise every record, device
  supervision;
- ``baseline`` and ``variant``: the shipped roster, and the same with one more night mobile
  doctor, through the situation machine;
- ``report``: KPIs, differences and traces (and the HTML page).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rules.engine import Router
from simulators.whatif.compare import compare
from simulators.whatif.inputs import prepare, read_recording, simulated_day, write_recording
from simulators.whatif.replay import Config
from simulators.whatif.report import render_html
from simulators.whatif.roster import load_roster, shipped_roster
from tike.regions import load_registry

NIGHT_DOCTOR = """
roster: one-more-night-doctor
region: etela-pohjanmaa
extends: etela-pohjanmaa
teams:
  - {id: ep-mobile-doctor-night-2, service: mobile_doctor, base: "408",
     coverage: {within_km: 150}, skills: [physician, prescribing, death_certificate,
     palliative], capacity: 2, shifts: ["20:00-08:00"]}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recording", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench/results/whatif.json"))
    args = ap.parse_args()
    registry = load_registry()
    tmp = tempfile.TemporaryDirectory()
    path = args.recording
    made = None
    if path is None:
        path = Path(tmp.name) / "day.jsonl"
        t = time.perf_counter()
        count = write_recording(
            simulated_day(registry.region("etela-pohjanmaa"), args.seed, 24.0), path
        )
        made = {"records": count, "seconds": round(time.perf_counter() - t, 1)}
        print(f"recorded {count} records in {made['seconds']} s (not timed below)")
    night = Path(tmp.name) / "night.yaml"
    night.write_text(NIGHT_DOCTOR)
    runs = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        prepared = prepare(read_recording(path), registry)
        t1 = time.perf_counter()
        baseline = Config(Router.default(registry), shipped_roster("etela-pohjanmaa", registry))
        variant = Config(Router.default(registry), load_roster(night, registry))
        report, timings = compare(prepared, baseline, variant, registry, args.seed)
        render_html(report)
        total = time.perf_counter() - t0
        runs.append(
            {
                "read_prepare_s": round(t1 - t0, 2),
                "baseline_s": timings.baseline_s,
                "variant_s": timings.variant_s,
                "report_s": timings.report_s,
                "total_s": round(total, 2),
            }
        )
        print(f"run {i + 1}: {runs[-1]}")
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "recording": {
            "path": str(args.recording) if args.recording else "simulated",
            "records": prepared.counts["records"],
            "needs": prepared.counts["needs"],
            "made": made,
        },
        "runs": runs,
        "total_s_median": statistics.median(r["total_s"] for r in runs),
        "target_s": 30,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "escalations": {k: report["kpis"]["escalations"][k] for k in ("baseline", "variant")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
