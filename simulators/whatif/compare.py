"""One call for a whole what-if: both runs and the report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from simulators.responders import Behaviour
from simulators.whatif.inputs import Prepared
from simulators.whatif.replay import Config, run
from simulators.whatif.report import build_report
from tike.regions import Registry


@dataclass(frozen=True)
class Timings:
    baseline_s: float
    variant_s: float
    report_s: float


def compare(
    prepared: Prepared,
    baseline: Config,
    variant: Config,
    registry: Registry,
    seed: int = 1,
    behaviour: Behaviour | None = None,
) -> tuple[dict[str, Any], Timings]:
    """The report of ``variant`` against ``baseline`` on ``prepared``; with the time each step
    took (kept out of the report, so equal inputs give an equal report)."""
    if baseline.roster.region != variant.roster.region:
        raise ValueError(
            f"the baseline's roster is of {baseline.roster.region}, the variant's "
            f"of {variant.roster.region}"
        )
    t0 = time.perf_counter()
    base = run(prepared, baseline, registry, seed, behaviour)
    t1 = time.perf_counter()
    var = run(prepared, variant, registry, seed, behaviour)
    t2 = time.perf_counter()
    recording = {
        "counts": dict(sorted(prepared.counts.items())),
        "rejected": dict(sorted(prepared.rejected.items())),
    }
    report = build_report(base, var, registry, recording, seed)
    t3 = time.perf_counter()
    return report, Timings(round(t1 - t0, 3), round(t2 - t1, 3), round(t3 - t2, 3))
