"""Microseconds per routing decision: Tike's compiled rules against CEL, same rules, same needs.

    .venv/bin/python bench/rules_bench.py [--needs 5000]

Rulesets of 10, 100 and 1000 generated rules (each 1–3 conditions, first match wins, a
catch-all last) decide needs from the simulator. Reported per decision:

- ``tike``: guard + first matching rule (``Router.choose_route``), as the worker runs it;
- ``tike+teams``: the full decision with team selection among the region's 37 teams;
- ``cel``: the same rules as CEL expressions (``common-expression-language``), evaluated in
  order until one is true, on the same needs, with one ``cel.Context`` per need.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import cel

from rules.engine import Router
from rules.vocabulary import build_fields
from simulators.basic import BasicSimulator
from tike.records import Origin
from tike.regions import load_registry
from tike_core.normalise import normalise

FIELDS_USED = [
    "source",
    "alarm_code",
    "operator_assessment",
    "urgency",
    "disposition",
    "transport_origin",
    "condition_category",
    "age_band",
    "municipality",
]
SERVICES = ["home_care", "mobile_nurse", "mobile_doctor", "safety_responder", "phone_advice"]


def make_rules(n: int, rng: random.Random, never: bool = False) -> tuple[str, list[str]]:
    """A YAML ruleset of ``n`` rules and the same rules as CEL expressions. With ``never``,
    every rule also requires municipality 218 (tested last), so a need from elsewhere is
    checked against every rule before the catch-all: the full-scan worst case."""
    fields = build_fields(load_registry())
    yaml_rules, cel_rules = [], []
    for i in range(n - 1):
        conds = {}
        for name in rng.sample(FIELDS_USED, rng.randint(1, 3)):
            values = list(fields[name].values)
            conds[name] = rng.sample(values, rng.randint(1, max(1, len(values) // 3)))
        if never:
            conds.pop("municipality", None)
            conds["municipality"] = ["218"]
        when = ", ".join(f"{k}: [{', '.join(repr(v) for v in vs)}]" for k, vs in conds.items())
        yaml_rules.append(
            f"  - id: r{i}\n    when: {{{when}}}\n"
            f"    route: {{service: {rng.choice(SERVICES)}, priority: urgent, sla_minutes: 30}}\n"
        )
        cel_rules.append(
            " && ".join(
                f"{k} in [{', '.join(json.dumps(v) for v in vs)}]" for k, vs in conds.items()
            )
        )
    yaml_rules.append(
        "  - id: rest\n    route: {service: phone_advice, priority: urgent, sla_minutes: 30}\n"
    )
    cel_rules.append("true")
    return f'ruleset: bench\nversion: "{n}"\nrules:\n' + "".join(yaml_rules), cel_rules


def sample_needs(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    registry = load_registry()
    sim = BasicSimulator(
        registry.region("etela-pohjanmaa"),
        seed=11,
        rate=60.0,
        start=datetime(2026, 11, 23, 6, tzinfo=UTC),
    )
    needs, teams = [], []
    for _, (_, _, event) in sim.events_until(10 * 86400):
        out = normalise(
            event, registry, Origin(event_id=event.event_id, topic="t"), event.occurred_at
        )
        for emit in out if isinstance(out, list) else []:
            rec = json.loads(emit.record.model_dump_json())
            if rec["kind"] == "unplanned_need":
                needs.append(rec)
            elif rec["kind"] == "team_state" and len(teams) < len(sim.teams):
                teams.append(rec)
        if len(needs) >= count:
            break
    return needs[:count], teams


def timed(fn: Callable[[dict[str, Any]], object], needs: list[dict[str, Any]]) -> dict[str, float]:
    for n in needs[:200]:
        fn(n)  # warm up
    samples = []
    clock = time.perf_counter_ns
    for n in needs:
        t = clock()
        fn(n)
        samples.append((clock() - t) / 1000)
    samples.sort()
    return {
        "p50_us": round(statistics.median(samples), 2),
        "p99_us": round(samples[int(len(samples) * 0.99)], 2),
        "mean_us": round(statistics.fmean(samples), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--needs", type=int, default=5000)
    parser.add_argument("--cel-max-rules", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(5)
    needs, teams = sample_needs(args.needs)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "needs": len(needs),
        "teams": len(teams),
    }
    for n in (10, 100, 1000):
        text, cel_rules = make_rules(n, rng)
        router = Router.from_text(text, f"bench-{n}")
        # Agreement check: both engines pick the same rule for every need.
        programs = [cel.compile(expr) for expr in cel_rules]

        def cel_first(need: dict[str, Any], programs: list[Any] = programs) -> int:
            # One Context per need, reused by every rule: CEL's fastest use (a plain dict
            # per execute costs about 12 us per rule here).
            ctx = cel.Context(variables={f: need.get(f) or "" for f in FIELDS_USED})
            return next(i for i, p in enumerate(programs) if p.execute(ctx))

        mismatches = sum(router.compiled.match(x) != cel_first(x) for x in needs[:500])
        row = {
            "tike": timed(router.choose_route, needs),
            "tike+teams": timed(lambda x, r=router: r.decide(x, teams, now), needs),
            "agreement_mismatches": mismatches,
        }
        if n <= args.cel_max_rules:
            row["cel"] = timed(cel_first, needs)
        # Worst case: every rule is tested before the catch-all matches.
        text, cel_rules = make_rules(n, random.Random(n), never=True)
        scan = Router.from_text(text, f"bench-scan-{n}")
        scan_programs = [cel.compile(expr) for expr in cel_rules]
        through = [x for x in needs if x["municipality"] != "218"]
        assert all(scan.compiled.match(x) == n - 1 for x in through[:500])
        row["tike_full_scan"] = timed(scan.choose_route, through)
        row["cel_full_scan"] = timed(partial(cel_first, programs=scan_programs), through)
        results[f"{n}_rules"] = row
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
