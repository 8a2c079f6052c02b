"""`tike`: the one command for everything a user runs."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError


def _logging(level: str, fmt: str) -> None:
    from tike.logs import setup

    setup(level, fmt)


def cmd_up(args: argparse.Namespace) -> int:
    from tike.settings import StackSettings
    from tike_cli.stack import up

    if args.realistic and not args.simulate:
        print("tike up: --realistic needs --simulate", file=sys.stderr)
        return 2
    return up(StackSettings(), simulate=args.simulate, realistic=args.realistic)


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run
    from tike.settings import WorkerSettings

    return run(WorkerSettings())


def cmd_gateway(args: argparse.Namespace) -> int:
    from gateway.app import run
    from tike.settings import GatewaySettings

    return run(GatewaySettings(), workers=args.workers)


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.basic import run
    from simulators.scenario import scenario_for
    from tike.regions import load_registry
    from tike.settings import SimulatorSettings

    s = SimulatorSettings()
    _logging(s.log_level, s.log_format)
    region = load_registry(s.regions_dir).region(args.region or s.sim_region)
    try:
        scenario = scenario_for(args.scenario or s.sim_scenario)
    except ValueError as exc:
        print(f"tike simulate: {exc}", file=sys.stderr)
        return 2
    time_scale = args.time_scale or (scenario.time_scale if scenario else None) or 1.0
    sent = asyncio.run(
        run(
            s.kafka_bootstrap,
            region,
            seed=args.seed if args.seed is not None else s.sim_seed,
            rate=args.rate if args.rate is not None else s.sim_rate,
            duration_s=args.duration,
            time_scale=time_scale,
            respond=not args.no_teams,
            scenario=scenario,
        )
    )
    print(f"produced {sent} events")
    return 0


def cmd_loadtest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.auth import issue
    from simulators.loadtest import loadtest, write_report
    from simulators.scenario import load_scenario
    from tike.regions import load_registry
    from tike.settings import GatewaySettings, SimulatorSettings

    s, g = SimulatorSettings(), GatewaySettings()
    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ValueError as exc:
        print(f"tike loadtest: {exc}", file=sys.stderr)
        return 2
    region = load_registry(s.regions_dir).region(args.region or s.sim_region)
    gateway = args.gateway or f"http://{g.gateway_host}:{g.gateway_port}"
    token = issue(g.secret.get_secret_value(), "admin", "loadtest", ttl_s=args.duration + 3600)
    result = asyncio.run(
        loadtest(
            s.kafka_bootstrap,
            gateway,
            token,
            region,
            scenario,
            args.rate,
            args.duration,
            seed=args.seed,
            time_scale=args.time_scale,
            idle_s=args.idle,
            progress=sys.stderr.isatty() or args.progress,
            warmup_s=args.warmup,
        )
    )
    js, html = write_report(result, Path(args.out))
    shown = {k: v for k, v in result.items() if k != "timeline"}
    sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
    print(f"report: {js} and {html}", file=sys.stderr)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from simulators.replay import record, time_window
    from tike import topics
    from tike.settings import SimulatorSettings

    s = SimulatorSettings()
    names = args.topics or list(topics.INPUT_TOPICS)
    try:
        start, end = time_window(args.since, args.until, args.duration, datetime.now(UTC))
    except ValueError as exc:
        print(f"tike record: {exc}", file=sys.stderr)
        return 2
    since_ms = int(start.timestamp() * 1000) if start else 0
    until_ms = int(end.timestamp() * 1000) if end else None
    count = asyncio.run(record(s.kafka_bootstrap, names, Path(args.out), since_ms, until_ms))
    window = f"from {start.isoformat() if start else 'the oldest record'} to " + (
        end.isoformat() if end else "now"
    )
    print(f"recorded {count} records of {', '.join(names)} {window} to {args.out}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from simulators.replay import load, replay
    from tike.settings import SimulatorSettings

    s = SimulatorSettings()
    try:
        records = load(Path(args.recording))
    except (OSError, ValueError) as exc:
        print(f"tike replay: {exc}", file=sys.stderr)
        return 2
    result = asyncio.run(replay(s.kafka_bootstrap, records, args.speed, fresh=args.fresh))
    print(
        f"replayed {result.sent} records in {result.seconds:.1f} s at x{args.speed:g} "
        f"(at most {result.late_max_ms} ms behind schedule)",
        file=sys.stderr,
    )
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from tike.examples import example

    event = example(args.kind)
    sys.stdout.write(event.model_dump_json(indent=2 if args.pretty else None) + "\n")
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from tike.schemas import all_schemas, write_schemas

    if args.write:
        for path in write_schemas(Path(args.write)):
            print(path)
        return 0
    if args.check:
        stale = [
            name
            for name, data in all_schemas().items()
            if not (Path(args.check) / name).is_file()
            or (Path(args.check) / name).read_bytes() != data
        ]
        if stale:
            print(f"out of date: {', '.join(stale)}; run `make schemas`", file=sys.stderr)
            return 1
        return 0
    for name in all_schemas():
        print(name)
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from tike.settings import settings_table

    sys.stdout.write(settings_table())
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.kafka_admin import ensure_topics
    from tike.settings import WorkerSettings
    from tike.topics import topics_table

    if args.create:
        s = WorkerSettings()
        created = asyncio.run(
            ensure_topics(s.kafka_bootstrap, s.topic_partitions, s.topic_replication)
        )
        print("created: " + (", ".join(created) or "(none, all exist)"))
        return 0
    sys.stdout.write(topics_table())
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Issue a token. Audited first (``tike.audit``, actor the login name) and recorded in
    Redis (so it can be revoked by id); if either fails, no token is printed."""
    from gateway.auth import issue, verify
    from tike.settings import GatewaySettings

    s = GatewaySettings()
    secret = s.secret.get_secret_value()
    try:
        token = issue(
            secret,
            args.role,
            args.sub,
            args.ttl if args.ttl is not None else s.token_ttl_s,
            s.token_max_ttl_s,
        )
    except ValueError as exc:
        print(f"tike token: {exc}", file=sys.stderr)
        return 2
    who = verify(secret, token)
    try:
        asyncio.run(_record_token(s, who, args.by or getpass.getuser()))
    except Exception as exc:  # Kafka or Redis unreachable: the write is not done
        print(
            f"tike token: refused, no token issued: cannot write the audit record or the "
            f"token record ({type(exc).__name__}: {exc})",
            file=sys.stderr,
        )
        return 1
    print(token)
    print(f"role {who.role}, subject {who.sub}, id {who.jti}, expires {who.exp}", file=sys.stderr)
    return 0


async def _record_token(settings: Any, who: Any, actor: str) -> None:
    import redis.asyncio as aioredis

    from gateway.commands import audit_from_cli
    from gateway.store import Store

    after = {"jti": who.jti, "sub": who.sub, "role": who.role, "exp": who.exp}
    await asyncio.wait_for(
        audit_from_cli(
            settings.kafka_bootstrap, actor, "admin", "token.issue", who.jti, None, after
        ),
        30,
    )
    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    try:
        await Store(client).record_token(who.jti, who.sub, who.role, who.exp)
    finally:
        await client.aclose()


def _rate(text: str) -> float:
    from simulators.scenario import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from tike.examples import EXAMPLES

    parser = argparse.ArgumentParser(prog="tike", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(fn=fn)
        return p

    p = add("up", cmd_up, "Start the embedded stack: broker, Redis, worker and gateway.")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="also run the event simulator: the demo scenario (an evening peak on a "
        "clock ten times faster, teams answering), unless TIKE_SIM_SCENARIO says "
        "otherwise",
    )
    p.add_argument(
        "--realistic",
        action="store_true",
        help="with --simulate: the region's realistic rates on the real clock instead "
        "of the demo (TIKE_SIM_SCENARIO=realistic)",
    )
    add("worker", cmd_worker, "Run the Faust stream worker.")
    p = add("gateway", cmd_gateway, "Run the HTTP/websocket gateway.")
    p.add_argument(
        "--workers",
        type=int,
        help="gateway processes on the one port (default TIKE_GATEWAY_WORKERS, 1); one of them "
        "at a time projects",
    )
    p = add("simulate", cmd_simulate, "Produce simulated regional traffic into Kafka.")
    p.add_argument(
        "--rate",
        type=_rate,
        help="rate multiplier or preset: regional (1), "
        "nationwide (25), stress (250); default TIKE_SIM_RATE",
    )
    p.add_argument("--seed", type=int, help="random seed (default TIKE_SIM_SEED)")
    p.add_argument("--region", help="region id (default TIKE_SIM_REGION)")
    p.add_argument("--duration", type=float, help="stop after this many simulated seconds")
    p.add_argument(
        "--time-scale",
        type=float,
        help="simulated seconds per second (default: the scenario's, else 1); events "
        "carry the real time of production in occurred_at and the scenario clock in "
        "scenario_time",
    )
    p.add_argument(
        "--scenario",
        help="shipped scenario (demo, normal-night, storm, flu-season, "
        "team-offline), a YAML file, or `realistic`: the region's rates on the real "
        "clock (default TIKE_SIM_SCENARIO)",
    )
    p.add_argument(
        "--no-teams",
        action="store_true",
        help="do not play the simulated teams' answers to their offers",
    )
    p = add("loadtest", cmd_loadtest, "Drive a running Tike with a scenario; measure it.")
    p.add_argument("scenario", nargs="?", help="scenario name or YAML file (default: basic)")
    p.add_argument(
        "--rate",
        type=_rate,
        default=1.0,
        help="rate multiplier or preset: nationwide (25), stress (250)",
    )
    p.add_argument("--duration", type=float, default=60.0, help="seconds of real time")
    p.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="seconds of the same traffic before the measured --duration; their needs are "
        "reported apart (the first heartbeat of every device is one-off work)",
    )
    p.add_argument(
        "--seed",
        type=int,
        help="random seed of the events (default: a fresh one per run, so a rerun "
        "sends new event ids; the report names the seed to repeat a run)",
    )
    p.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per second")
    p.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="then wait this long and time one more event (e.g. 600)",
    )
    p.add_argument("--gateway", help="gateway URL (default from TIKE_GATEWAY_HOST/PORT)")
    p.add_argument("--region", help="region id (default TIKE_SIM_REGION)")
    p.add_argument("--out", default="loadtest-report", help="directory for JSON and HTML")
    p.add_argument("--progress", action="store_true", help="progress bar even without a TTY")
    p = add("record", cmd_record, "Record topics (default: every input topic) to a file.")
    p.epilog = (
        "Without bounds, everything the topics retain is recorded. Times are the records' "
        "broker timestamps, both ends inclusive. --duration alone records the last DURATION "
        "(from now back); with --since it ends DURATION after --since; with --until it starts "
        "DURATION before --until. Examples: --duration 10m; "
        "--since 2026-11-23T18:00:00+02:00 --duration 2h; --since 3h --until 1h."
    )
    p.add_argument("topics", nargs="*", help="topic names (default: the input topics)")
    p.add_argument("--out", required=True, help="JSON Lines file to write")
    p.add_argument(
        "--since",
        metavar="TIME",
        help="first record time: ISO 8601 (UTC if no offset) or a time ago (10m, 2h, 1d)",
    )
    p.add_argument("--until", metavar="TIME", help="last record time, in the same forms")
    p.add_argument(
        "--duration", metavar="SPAN", help="length of the window (90s, 10m, 2h, 1d); see below"
    )
    p = add("replay", cmd_replay, "Replay a recording at xN speed.")
    p.add_argument("recording", help="JSON Lines file written by `tike record`")
    p.add_argument("--speed", type=float, default=1.0, help="speed-up factor (default 1)")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="new ids, current times, synthetic (else: redeliveries)",
    )
    p = add("example", cmd_example, "Print a valid example event of a kind.")
    p.add_argument("kind", choices=sorted(EXAMPLES))
    p.add_argument("--pretty", action="store_true")
    p = add("schemas", cmd_schemas, "Generate or check the JSON Schemas of the contracts.")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="DIR")
    group.add_argument("--check", metavar="DIR")
    p = add("token", cmd_token, "Print a signed token for a role (signed with TIKE_SECRET).")
    p.add_argument("--role", required=True, help="control_room, operator, admin or team:<id>")
    p.add_argument(
        "--sub",
        required=True,
        help="the person or device that will use it: user id or e-mail address",
    )
    p.add_argument(
        "--ttl",
        type=float,
        help="lifetime in seconds (default TIKE_TOKEN_TTL_S, at most TIKE_TOKEN_MAX_TTL_S)",
    )
    p.add_argument("--by", help="who issues it, for the audit log (default: the login name)")
    add("settings", cmd_settings, "Print the table of TIKE_ settings (Markdown).")
    p = add("topics", cmd_topics, "Print the topic table, or create the topics.")
    p.add_argument("--create", action="store_true", help="create missing topics in Kafka")
    from tike_cli.rules_cli import add_parser
    from tike_cli.whatif_cli import add_parser as add_whatif

    add_parser(sub)
    add_whatif(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except ValidationError as exc:
        print(f"tike: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
