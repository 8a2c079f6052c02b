"""`tike rules ...`: validate, test, dry-run, activate and inspect rulesets."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from pathlib import Path

import orjson

from rules.analysis import analyse
from rules.cases import activation_cases, cases_path, failing_cases, run_cases
from rules.dryrun import dry_run
from rules.engine import Router, fields_for
from rules.loader import RuleFileError, load_ruleset
from rules.vocabulary import vocabulary_schema
from tike.regions import Registry, load_registry
from tike.settings import WorkerSettings

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_duration(text: str) -> float:
    m = DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 24h or 7d")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _load(path: Path, registry: Registry) -> Router | None:
    try:
        return Router(load_ruleset(path, fields_for(registry)), registry)
    except RuleFileError as exc:
        for err in exc.errors:
            print(f"error: {err}", file=sys.stderr)
        return None
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _findings(router: Router) -> int:
    findings = analyse(router.ruleset, router.fields)
    for f in findings:
        print(f"warning: {router.ruleset.origin}:{f}", file=sys.stderr)
    return len(findings)


def cmd_validate(args: argparse.Namespace, registry: Registry) -> int:
    router = _load(args.file, registry)
    if router is None:
        return 1
    warnings = _findings(router)
    rs = router.ruleset
    print(f"{rs.origin}: {rs.label}, {len(rs.rules)} rules, {warnings} warning(s)")
    return 1 if args.strict and warnings else 0


def _run_tests(router: Router, cases: Path, quiet: bool = False) -> bool:
    try:
        results = run_cases(router, cases)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    failed = [r for r in results if not r.passed]
    for r in results if not quiet else failed:
        print(r)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return not failed


def cmd_test(args: argparse.Namespace, registry: Registry) -> int:
    router = _load(args.file, registry)
    if router is None:
        return 1
    return 0 if _run_tests(router, args.cases or cases_path(args.file)) else 1


def cmd_dry_run(args: argparse.Namespace, registry: Registry) -> int:
    from streams.rules_store import active_router, recorded_needs

    candidate = _load(args.file, registry)
    if candidate is None:
        return 1
    bootstrap = WorkerSettings().kafka_bootstrap

    async def run() -> tuple[Router, str, list[dict[str, object]]]:
        current, where = await active_router(bootstrap, registry)
        return current, where, await recorded_needs(bootstrap, args.since)

    current, where, needs = asyncio.run(run())
    report = dry_run(current, candidate, needs).as_dict()
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"active {report['active']} ({where}) vs candidate {report['candidate']}")
    print(f"{report['needs']} needs replayed, {report['changed']} decisions change")
    print(f"{'service':<22}{'active':>8}{'candidate':>11}")
    for service, counts in report["per_service"].items():
        print(f"{service:<22}{counts['active']:>8}{counts['candidate']:>11}")
    if report["changed_per_municipality"]:
        names = {m.code: m.name_fi for m in registry.municipalities.values()}
        print("changed per municipality:")
        for code, n in report["changed_per_municipality"].items():
            print(f"  {names.get(code, code):<18}{n:>6}")
    for ch in report["changed_decisions"][: args.limit]:
        b, a = ch["before"], ch["after"]
        print(
            f"  {ch['need_id']} ({ch['source']}, {ch['municipality']}): "
            f"{b['rule']} -> {b['service']}/{b['priority']}  =>  "
            f"{a['rule']} -> {a['service']}/{a['priority']}"
        )
    return 0


def cmd_activate(args: argparse.Namespace, registry: Registry) -> int:
    from gateway.commands import audit_from_cli
    from streams.rules_store import new_activation, publish

    router = _load(args.file, registry)
    if router is None:
        print("refused: the ruleset does not validate; the active ruleset stays", file=sys.stderr)
        return 1
    _findings(router)
    beside = cases_path(args.file)
    given = (str(beside), beside.read_text(encoding="utf-8")) if beside.is_file() else None
    cases = activation_cases(router, given)  # the same tests the API would run
    if cases is not None:
        failures = failing_cases(router, *cases)
        for failure in failures:
            print(failure, file=sys.stderr)
        if failures:
            print(
                f"refused: rule tests in {cases[0]} fail; the active ruleset stays", file=sys.stderr
            )
            return 1
    try:
        activation = new_activation(router, args.comment, args.by or getpass.getuser())
    except ValueError as exc:  # pydantic's ValidationError: a comment with an identity code
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    bootstrap = WorkerSettings().kafka_bootstrap
    try:  # audited first: if the audit record cannot be written, nothing is activated
        asyncio.run(
            audit_from_cli(
                bootstrap,
                activation.activated_by,
                "operator",
                "rules.activate",
                activation.label,
                None,
                {
                    "label": activation.label,
                    "checksum": activation.checksum,
                    "comment": activation.comment,
                },
            )
        )
    except Exception as exc:
        print(
            f"refused: cannot write the audit record ({type(exc).__name__}: {exc}); "
            "the active ruleset stays",
            file=sys.stderr,
        )
        return 1
    offset = asyncio.run(publish(bootstrap, activation))
    print(f"activated {activation.label} at tike.rules@{offset}: {args.comment}")
    return 0


def cmd_show(args: argparse.Namespace, registry: Registry) -> int:
    from rules.activation import Applied, active
    from streams.rules_store import read_history

    results = asyncio.run(read_history(WorkerSettings().kafka_bootstrap, registry))
    current = active(results)
    if not results:
        print("tike.rules is empty: workers use the shipped default ruleset")
    for r in results:
        if isinstance(r, Applied):
            a = r.activation
            mark = "*" if current is r else " "
            print(
                f"{mark} @{r.offset:<5} {a.label:<28} {a.activated_at:%Y-%m-%d %H:%M} "
                f"{a.activated_by}: {a.comment}"
            )
        else:
            print(f"  @{r.offset:<5} REFUSED: {r.reason}")
    return 0


def cmd_vocabulary(args: argparse.Namespace, registry: Registry) -> int:
    schema = vocabulary_schema(fields_for(registry))
    sys.stdout.write(orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = sub.add_parser("rules", help="Validate, test, dry-run and activate routing rules.")
    rsub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")

    def add(name: str, fn: object, help: str) -> argparse.ArgumentParser:
        p = rsub.add_parser(name, help=help, description=help)
        p.set_defaults(fn=lambda a: fn(a, load_registry(WorkerSettings().regions_dir)))  # type: ignore[operator]
        return p

    p = add("validate", cmd_validate, "Validate a ruleset and report dead rules.")
    p.add_argument("file", type=Path)
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    p = add("test", cmd_test, "Run a ruleset's test cases (FILE.tests.yaml beside it).")
    p.add_argument("file", type=Path)
    p.add_argument("--cases", type=Path, help="another test-case file")
    p = add("dry-run", cmd_dry_run, "Replay recorded needs: how would decisions change?")
    p.add_argument("file", type=Path)
    p.add_argument("--since", type=parse_duration, default=parse_duration("24h"))
    p.add_argument("--limit", type=int, default=50, help="changed decisions to list")
    p.add_argument("--json", action="store_true")
    p = add("activate", cmd_activate, "Validate, test and activate a ruleset on every worker.")
    p.add_argument("file", type=Path)
    p.add_argument("--comment", required=True)
    p.add_argument("--by", help="who activates (default: the login name)")
    add("show", cmd_show, "List activated rulesets; * marks the one in force.")
    add("vocabulary", cmd_vocabulary, "Print the rule-file JSON Schema with the vocabulary.")
