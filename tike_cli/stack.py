"""`tike up`: start the embedded stack (broker, Redis, worker, gateway, simulator), print what
runs where, and stop every child on Ctrl-C or when one of them dies.

A stack keeps its logs, its lock and (by default) the worker state in ``TIKE_RUN_DIR``
(``.tike``). Only one `tike up` runs per directory: :class:`RunLock` holds an exclusive
``flock`` on ``<run dir>/up.lock`` for the stack's lifetime and writes its pid there. The
kernel drops the lock when the process ends however it ends, so a lock file left by a dead
`tike up` is simply taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from streams.kafka_admin import ensure_topics, wait_for_broker
from tike.settings import StackSettings
from tike_cli.embedded import (
    Child,
    PortInUse,
    broker_command,
    redis_command,
    require_port,
    spawn,
    tike_command,
    wait_port,
)

#: Partitions per topic of the embedded stack, unless TIKE_TOPIC_PARTITIONS says otherwise.
EMBEDDED_PARTITIONS = 2
#: The simulated team whose view the printed team link opens (home care, based in the
#: region's largest municipality: the team the demo keeps busiest).
DEMO_TEAM = "sim-home-care-1"
#: Roles of the printed sign-in links: (label, path, role).
LINKS = (
    ("Board", "/", "control_room"),
    ("Team view", "/team.html", f"team:{DEMO_TEAM}"),
    ("Rules editor", "/rules.html", "operator"),
)


def is_loopback(host: str) -> bool:
    """True if ``host`` is an address (or name) only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def demo_subject(role: str) -> str:
    """The subject of a dev sign-in link's token: a demo user, never the bare role name."""
    return "demo-" + role.replace(":", "-").replace("_", "-")


def sign_in_links(settings: StackSettings) -> list[tuple[str, str]]:
    """Ready-to-open links that sign in with a fresh token: (label, URL). Only in ``dev`` and
    only for a gateway on a loopback address; otherwise none (tokens come from `tike token`)."""
    if settings.env != "dev" or not is_loopback(settings.gateway_host):
        return []
    from gateway.auth import issue

    secret, ttl = settings.secret.get_secret_value(), settings.token_ttl_s
    host = settings.gateway_host
    base = f"http://{'[' + host + ']' if ':' in host else host}:{settings.gateway_port}"
    return [
        (label, f"{base}{path}#token={issue(secret, role, demo_subject(role), ttl_s=ttl)}")
        for label, path, role in LINKS
    ]


def simulator_summary(scenario_name: str, region: str) -> str:
    """What the simulator plays, in one line."""
    from simulators.scenario import scenario_for

    try:
        scenario = scenario_for(scenario_name)
    except ValueError as exc:
        return f"region {region}: {exc}"
    if scenario is None:
        return f"region {region}: realistic rates, real clock, synthetic data"
    clock = f"clock x{scenario.time_scale:g}, " if scenario.time_scale else ""
    return f"region {region}: scenario {scenario.name}, {clock}teams answering, synthetic data"


class StackError(RuntimeError):
    pass


class StackLocked(StackError):
    """Another running `tike up` uses the same run directory."""


@dataclass
class RunLock:
    """An exclusive lock on a run directory, held while the stack runs."""

    path: Path
    fd: int | None = None

    @classmethod
    def of(cls, run_dir: Path) -> RunLock:
        return cls(run_dir / "up.lock")

    def holder(self) -> int | None:
        """The pid written by the (last) holder, if any."""
        with contextlib.suppress(OSError, ValueError):
            return int(self.path.read_text().split()[0])
        return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = self.holder()
            who = f"pid {pid}" if pid else "another process"
            run_dir = self.path.parent
            raise StackLocked(
                f"another `tike up` ({who}) is running with the run directory {run_dir}/ (its "
                f"logs, state and lock); stop it, or give this stack a directory of its own with "
                f"TIKE_RUN_DIR=<dir> (and ports of its own)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # drops the flock
            self.fd = None


@dataclass
class Stack:
    settings: StackSettings
    simulate: bool = False
    realistic: bool = False  # the simulator plays realistic rates, not the demo
    log_dir: Path | None = None  # empty: <TIKE_RUN_DIR>/logs
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.log_dir is None:
            self.log_dir = self.settings.run_dir / "logs"

    @property
    def logs(self) -> Path:
        assert self.log_dir is not None
        return self.log_dir

    @property
    def external_kafka(self) -> bool:
        return "TIKE_KAFKA_BOOTSTRAP" in self.environ

    @property
    def external_redis(self) -> bool:
        return "TIKE_REDIS_URL" in self.environ

    def check_ports(self) -> None:
        s = self.settings
        if not self.external_kafka:
            require_port(s.embedded_kafka_port, "TIKE_EMBEDDED_KAFKA_PORT", "embedded broker")
        if not self.external_redis:
            require_port(s.embedded_redis_port, "TIKE_EMBEDDED_REDIS_PORT", "embedded Redis")
        require_port(s.gateway_port, "TIKE_GATEWAY_PORT", "gateway", s.gateway_host)
        if s.metrics_port:
            require_port(s.metrics_port, "TIKE_METRICS_PORT", "worker metrics", s.metrics_host)

    def _log(self, name: str) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f"{name}.log"

    def _start(self, name: str, argv: list[str], env: dict[str, str], where: str) -> Child:
        path = self._log(name)
        with path.open("ab") as log:
            child = spawn(name, argv, env=env, log=log)
        self.children.append(child)
        self.rows.append((name, where, str(path)))
        return child

    def start(self) -> dict[str, str]:
        """Start everything; return the environment the Tike processes got."""
        s = self.settings
        self.check_ports()
        env = dict(self.environ)
        if self.external_kafka:
            bootstrap = s.kafka_bootstrap
            self.rows.append(("kafka", bootstrap, "(external)"))
        else:
            bootstrap = f"127.0.0.1:{s.embedded_kafka_port}"
            self._start(
                "broker", broker_command(s.embedded_kafka_port), env, f"kafka://{bootstrap}"
            )
            env["TIKE_KAFKA_PROFILE"] = "embedded"
            # One worker on one machine: every partition in a fetch costs the embedded broker
            # work on each look of a long poll, so an idle stack with 8 partitions per topic
            # kept it at 10 % of a core (docs/performance.md, idle cost).
            env.setdefault("TIKE_TOPIC_PARTITIONS", str(EMBEDDED_PARTITIONS))
        env["TIKE_KAFKA_BOOTSTRAP"] = bootstrap
        partitions = int(env.get("TIKE_TOPIC_PARTITIONS", s.topic_partitions))
        if not self.external_kafka and not wait_port(s.embedded_kafka_port, 30):
            raise StackError(f"the embedded broker did not open port {s.embedded_kafka_port}")
        try:
            asyncio.run(wait_for_broker(bootstrap, timeout=30))
            asyncio.run(ensure_topics(bootstrap, partitions, s.topic_replication))
        except (TimeoutError, ConnectionError) as exc:
            raise StackError(str(exc)) from exc
        if self.external_redis:
            self.rows.append(("redis", s.redis_url, "(external)"))
        else:
            port = s.embedded_redis_port
            self._start("redis", redis_command(port), env, f"redis://127.0.0.1:{port}/0")
            if not wait_port(port, 15):
                raise StackError(f"the embedded Redis did not open port {port}")
            env["TIKE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        metrics = f"http://{s.metrics_host}:{s.metrics_port}/metrics" if s.metrics_port else "-"
        self._start("worker", tike_command("worker"), env, f"metrics {metrics}")
        gateway = f"http://{s.gateway_host}:{s.gateway_port}"
        self._start("gateway", tike_command("gateway"), env, gateway)
        if not wait_port(s.gateway_port, 30, s.gateway_host):
            raise StackError(f"the gateway did not open {gateway}; see {self._log('gateway')}")
        if self.simulate:
            sim_env = dict(env)
            if self.realistic:
                sim_env["TIKE_SIM_SCENARIO"] = "realistic"
            scenario = sim_env.get("TIKE_SIM_SCENARIO", s.sim_scenario)
            self._start(
                "simulator",
                tike_command("simulate"),
                sim_env,
                simulator_summary(scenario, s.sim_region),
            )
        return env

    def table(self) -> str:
        width = max(len(r[1]) for r in self.rows)
        lines = ["Tike is up:", ""]
        lines += [f"  {name:<10} {where:<{width}}  log {log}" for name, where, log in self.rows]
        links = sign_in_links(self.settings)
        if links:
            lines += ["", "Open in a browser (dev only; each link signs in with its own token):"]
            lines += [f"  {label:<13}{url}" for label, url in links]
            lines += [
                f"  (the team view is {DEMO_TEAM}'s; `tike token --role team:<id>` for "
                "another team, `--role admin` for the REST API)"
            ]
        else:
            lines += [
                "",
                "Sign in with a token from `tike token --role control_room` (or "
                "operator, admin, team:<id>); no sign-in links are printed outside dev or "
                "for a gateway beyond loopback.",
            ]
        lines += ["", "Stop with Ctrl-C."]
        return "\n".join(lines)

    def dead(self) -> Child | None:
        return next((c for c in self.children if not c.alive()), None)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop(timeout=10)


def up(settings: StackSettings, simulate: bool, realistic: bool = False) -> int:
    stack = Stack(settings, simulate=simulate, realistic=realistic)
    lock = RunLock.of(settings.run_dir)
    try:
        lock.acquire()
    except StackLocked as exc:
        print(f"tike up: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(stack)
    finally:
        lock.release()


def _run(stack: Stack) -> int:
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
    except (PortInUse, StackError, FileNotFoundError) as exc:
        print(f"tike up: {exc}", file=sys.stderr)
        stack.stop()
        return 2
    print(stack.table(), flush=True)
    code = 0
    try:
        while not stopping:
            dead = stack.dead()
            if dead is not None:
                print(
                    f"tike up: {dead.name} exited with code {dead.proc.returncode}; "
                    f"see {stack.logs / (dead.name + '.log')}",
                    file=sys.stderr,
                )
                code = 1
                break
            time.sleep(0.2)
    finally:
        print("tike up: stopping ...", flush=True)
        stack.stop()
    return code
