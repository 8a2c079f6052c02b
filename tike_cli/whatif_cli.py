"""`tike whatif`: the thin command-line adapter of :mod:`simulators.whatif`."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rules.engine import Router
from rules.loader import RuleFileError
from tike.regions import Registry

PRIORITIES = ("stat", "asap", "urgent", "routine")
SIMULATED = "simulated:"


@dataclass
class Side:
    rules: str | None = None
    roster: str | None = None
    timeouts: dict[str, float] | None = None


def parse_side(items: list[str] | None, base: Side | None = None) -> Side:
    """``KEY=VALUE`` items: ``rules=FILE``, ``roster=FILE|NAME|recorded``,
    ``timeout.PRIORITY=SECONDS``. What a variant leaves out, it takes from ``base``."""
    side = Side(base.rules, base.roster, dict(base.timeouts or {})) if base else Side()
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise ValueError(f"{item!r}: expected KEY=VALUE (rules=, roster=, timeout.urgent=)")
        if key == "rules":
            side.rules = value
        elif key == "roster":
            side.roster = value
        elif key.startswith("timeout.") and key[8:] in PRIORITIES:
            try:
                seconds = float(value)
            except ValueError:
                raise ValueError(f"{item!r}: the time-out is a number of seconds") from None
            if not 0 < seconds <= 86400:
                raise ValueError(f"{item!r}: a time-out is 1 s to a day")
            side.timeouts = {**(side.timeouts or {}), key[8:]: seconds}
        else:
            raise ValueError(
                f"{item!r}: unknown key {key!r}; use rules, roster, "
                f"timeout.{{{','.join(PRIORITIES)}}}"
            )
    return side


def _router(spec: str | None, registry: Registry) -> Router:
    if spec in (None, "default"):
        return Router.default(registry)
    from rules.engine import fields_for
    from rules.loader import load_ruleset

    return Router(load_ruleset(Path(spec), fields_for(registry)), registry)


def build_config(side: Side, prepared: Any, registry: Registry, region: str) -> Any:
    from simulators.whatif.replay import Config
    from simulators.whatif.roster import load_roster, recorded_roster, shipped_roster

    if side.roster == "recorded" or (side.roster is None and prepared.team_reports):
        roster = recorded_roster(prepared.team_reports, prepared.end, registry)
        if roster is None:
            raise ValueError("the recording has no team reports: give roster=FILE")
    elif side.roster is None:
        roster = shipped_roster(region, registry)
    else:
        roster = load_roster(side.roster, registry)
    return Config(_router(side.rules, registry), roster, side.timeouts or None)


def cmd_whatif(args: argparse.Namespace) -> int:
    from simulators.whatif.compare import compare
    from simulators.whatif.inputs import prepare, read_recording, simulated_day, write_recording
    from simulators.whatif.report import render_html
    from tike.regions import load_registry
    from tike.settings import WorkerSettings

    ws = WorkerSettings()
    registry = load_registry(ws.regions_dir)
    started = time.perf_counter()
    try:
        baseline = parse_side(args.baseline)
        variant = parse_side(args.variant, baseline)
        if args.recording.startswith(SIMULATED):
            from simulators.replay import parse_span

            hours = parse_span(args.recording[len(SIMULATED) :] or "24h").total_seconds() / 3600
            sim_region = registry.region(args.region or "etela-pohjanmaa")
            from simulators.scenario import scenario_for

            scenario = scenario_for(args.scenario) if args.scenario else None
            rows: Any = simulated_day(sim_region, args.seed, hours, scenario=scenario)
            if args.save_recording:
                write_recording(rows, Path(args.save_recording))
        else:
            rows = read_recording(Path(args.recording))
        prepared = prepare(rows, registry, ws.heartbeat_timeout_s, ws.silence_check_interval_s)
        region = args.region or (prepared.regions[0] if prepared.regions else "etela-pohjanmaa")
        base_cfg = build_config(baseline, prepared, registry, region)
        var_cfg = build_config(variant, prepared, registry, region)
        report, timings = compare(prepared, base_cfg, var_cfg, registry, args.seed)
    except RuleFileError as exc:
        for err in exc.errors:
            print(f"error: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as exc:
        print(f"tike whatif: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "whatif.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (out / "whatif.html").write_text(render_html(report), encoding="utf-8")
    b, v = report["baseline"], report["variant"]
    print(f"baseline: {b['ruleset']}, roster {b['roster']} ({b['teams']} teams)")
    print(f"variant:  {v['ruleset']}, roster {v['roster']} ({v['teams']} teams)")
    print(f"{'KPI':<24}{'baseline':>12}{'variant':>12}{'difference':>12}  needs")
    for key, k in report["kpis"].items():
        if key == "by_service":
            continue
        cells = [k["baseline"], k["variant"], k["difference"]]
        if isinstance(k["baseline"], dict):
            cells = [c.get("median_s") if isinstance(c, dict) else c for c in cells]
            key = f"{key} (median s)"
        shown = ["–" if c is None else f"{c:g}" for c in cells]
        print(f"{key:<24}{shown[0]:>12}{shown[1]:>12}{shown[2]:>12}  {k['needs_total']}")
    total = time.perf_counter() - started
    print(
        f"report: {out / 'whatif.json'} and {out / 'whatif.html'}; replay {timings.baseline_s} s"
        f" + {timings.variant_s} s, report {timings.report_s} s, {total:.1f} s in all",
        file=sys.stderr,
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "whatif",
        help="Replay a recorded day with another roster or ruleset: what would change?",
        description="Replay a recording through the situation machine twice (baseline and "
        "variant) and report every KPI side by side, with each difference traced to needs "
        "(docs/whatif.md).",
    )
    p.set_defaults(fn=cmd_whatif)
    p.add_argument(
        "recording",
        help="a `tike record` file, or simulated:24h for a day of the "
        "seeded simulator's regional traffic",
    )
    p.add_argument(
        "--baseline",
        action="append",
        metavar="KEY=VALUE",
        help="rules=FILE|default, roster=FILE|NAME|recorded, timeout.PRIORITY=S "
        "(default: the shipped ruleset; the recording's team reports as the roster, "
        "else the region's shipped roster)",
    )
    p.add_argument(
        "--variant",
        action="append",
        metavar="KEY=VALUE",
        help="the same keys; what it leaves out is the baseline's",
    )
    p.add_argument(
        "--seed", type=int, default=1, help="seed of the responder model (and of simulated:)"
    )
    p.add_argument("--region", help="region id (default: the recording's)")
    p.add_argument(
        "--scenario",
        help="with simulated:, a simulator scenario (storm, flu-season, ... or a YAML file) "
        "instead of the region's realistic rates",
    )
    p.add_argument("--out", default="whatif-report", help="directory for whatif.json/.html")
    p.add_argument(
        "--save-recording",
        metavar="FILE",
        help="with simulated:, also write the recording in tike record's format",
    )
