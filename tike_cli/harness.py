"""Real processes for integration tests: broker, Redis, worker. No mocks."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from simulators.collect import Collector, Received
from streams.kafka_admin import ensure_topics, wait_for_broker
from streams.kafka_log import partitions_of, read_partition
from tike import topics
from tike.examples import example
from tike.records import stable_id
from tike_cli.embedded import (
    Child,
    broker_command,
    free_port,
    redis_command,
    spawn,
    tike_command,
    wait_port,
)

PARTITIONS = 4
__all__ = ["Collector", "Received", "Worker", "producer"]


def start_broker(log_dir: Path) -> tuple[Child, str]:
    port = free_port()
    with (log_dir / f"broker-{port}.log").open("ab") as log:
        child = spawn("broker", broker_command(port), log=log)
    assert wait_port(port, 20), "embedded broker did not start"
    bootstrap = f"127.0.0.1:{port}"
    asyncio.run(wait_for_broker(bootstrap, timeout=20))
    asyncio.run(ensure_topics(bootstrap, PARTITIONS))
    return child, bootstrap


def start_redis(log_dir: Path) -> tuple[Child, str]:
    port = free_port()
    with (log_dir / f"redis-{port}.log").open("ab") as log:
        child = spawn("redis", redis_command(port), log=log)
    assert wait_port(port, 20), "embedded Redis did not start"
    return child, f"redis://127.0.0.1:{port}/0"


def wait_ready(child: Child, ready: Callable[[], bool], timeout: float, log: Path) -> None:
    """Wait until ``ready()``; fail at once if the child dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.alive(), f"{child.name} died; see {log}"
        if ready():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{child.name} not up in {timeout} s; see {log}")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except OSError:
        return 0


@dataclass
class Worker:
    env: dict[str, str]
    log_path: Path
    child: Child | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['TIKE_METRICS_PORT']}/metrics"

    def start(self, timeout: float = 60) -> None:
        with self.log_path.open("ab") as log:
            self.child = spawn("worker", tike_command("worker"), env=self.env, log=log)
        wait_ready(
            self.child, lambda: "tike_worker_up 1.0" in self.metrics(), timeout, self.log_path
        )

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def metric(self, name: str, **labels: str) -> float:
        want = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
        )
        for line in self.metrics().splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def kill(self) -> None:
        assert self.child is not None
        self.child.kill()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=15)


def _env(bootstrap: str, redis_url: str) -> dict[str, str]:
    """This environment without TIKE_* settings, pointed at the test broker and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKE_")}
    env.update(
        TIKE_KAFKA_BOOTSTRAP=bootstrap, TIKE_KAFKA_PROFILE="embedded", TIKE_REDIS_URL=redis_url
    )
    return env


def worker_env(bootstrap: str, redis_url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    env = _env(bootstrap, redis_url)
    env.update(
        TIKE_TOPIC_PARTITIONS=str(PARTITIONS),
        TIKE_STATE_DIR=str(state_dir),
        TIKE_METRICS_PORT=str(free_port()),
        TIKE_HEARTBEAT_TIMEOUT_S="3",
        TIKE_SILENCE_CHECK_INTERVAL_S="0.5",
        TIKE_LOG_LEVEL="info",
    )
    env.update(extra)
    return env


@contextmanager
def worker_stack(logs: Path, **extra: str) -> Iterator[tuple[str, str, Worker]]:
    """A broker, Redis and a started worker for benchmarks; ``(bootstrap, redis_url,
    worker)``."""
    b, broker = start_broker(logs)
    r, redis = start_redis(logs)
    worker = Worker(worker_env(broker, redis, logs / "state", **extra), logs / "worker.log")
    try:
        worker.start()
        yield broker, redis, worker
    finally:
        worker.stop()
        b.stop()
        r.stop()


async def producer(bootstrap: str) -> AIOKafkaProducer:
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await prod.start()
    return prod


SECRET = "integration-test-secret-0123456789"


@dataclass
class Gateway:
    """A real `tike gateway` (uvicorn) process."""

    env: dict[str, str]
    log_path: Path
    child: Child | None = None

    @classmethod
    def create(cls, bootstrap: str, redis_url: str, log_path: Path, **extra: str) -> Gateway:
        env = _env(bootstrap, redis_url)
        env.update(
            TIKE_GATEWAY_PORT=str(free_port()),
            TIKE_SECRET=SECRET,
            TIKE_ENV="test",
            TIKE_LOG_LEVEL="info",
            TIKE_PROJECTOR_LEASE_S="2",
            # Tests and benchmarks share one token per role among many clients and writes.
            TIKE_WS_MAX_PER_TOKEN="100000",
            TIKE_WRITE_RATE_PER_MIN="100000",
        )
        env.update(extra)
        return cls(env, log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['TIKE_GATEWAY_PORT']}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.env['TIKE_GATEWAY_PORT']}"

    def start(self, timeout: float = 30) -> Gateway:
        with self.log_path.open("ab") as log:
            self.child = spawn("gateway", tike_command("gateway"), env=self.env, log=log)
        wait_ready(
            self.child, lambda: _status(self.url + "/healthz") == 200, timeout, self.log_path
        )
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=15)


# --- Failover helpers (tests/integration/test_failover.py, bench/restart_probe.py) ---

_ASSIGNED = re.compile(r"Setting newly assigned partitions \{(.*)\} for group")
_TP = re.compile(r"topic='([^']+)', partition=(\d+)")


def assigned(log_path: Path, topic: str) -> set[int]:
    """The partitions of ``topic`` in the newest assignment a worker logged (aiokafka's
    "Setting newly assigned partitions" line)."""
    last: set[int] = set()
    for line in log_path.read_text(errors="replace").splitlines():
        m = _ASSIGNED.search(line)
        if m:
            last = {int(p) for t, p in _TP.findall(m.group(1)) if t == topic}
    return last


def log_times(log_path: Path, since: float) -> list[tuple[float, str]]:
    """(epoch seconds, message) of a worker's text log lines written at or after ``since``."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if at >= since - 0.001:
            out.append((at, line[24:]))
    return out


def second_worker(first: Worker, log_path: Path, state_dir: Path) -> Worker:
    """Another worker of the same group as ``first``: its own metrics port, state and log."""
    env = dict(first.env, TIKE_METRICS_PORT=str(free_port()), TIKE_STATE_DIR=str(state_dir))
    return Worker(env, log_path)


def alarm(i: int, tag: str = "fo") -> dict[str, Any]:
    """A distinct safety alarm (its own event id; 500 devices, so none falls silent)."""
    data: dict[str, Any] = orjson.loads(example("safety_alarm").model_dump_json())
    data["device_id"] = f"dev-{tag}-{i % 500}"
    return data


@dataclass
class Feeder:
    """Sends distinct alarms to tike.in.alarms at ``rate`` per second until stopped; keeps
    each alarm's send time (``time.monotonic()``) and its send future (partition, offset) by
    event id."""

    bootstrap: str
    rate: float
    sent: dict[str, float] = field(default_factory=dict)
    placed: dict[object, asyncio.Future[Any]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _prod: AIOKafkaProducer | None = None
    _stop: bool = False

    async def start(self) -> Feeder:
        self._prod = await producer(self.bootstrap)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._prod is not None
        start = time.monotonic()
        i = 0
        while not self._stop:
            due = start + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            a = alarm(i)
            self.placed[a["event_id"]] = await self._prod.send(
                "tike.in.alarms", orjson.dumps(a), key=str(a["device_id"]).encode()
            )
            self.sent[a["event_id"]] = time.monotonic()
            i += 1

    async def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            await self._task
        if self._prod is not None:
            await self._prod.flush()
            await self._prod.stop()


async def wait_decided(decisions: Collector, need_ids: Iterable[str], timeout: float) -> None:
    """Wait until every need id has a routing decision on ``decisions``, or ``timeout`` passes
    (the caller then says which are missing)."""
    want = set(need_ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want <= {r.json()["need_id"] for r in decisions.records}:
            return
        await asyncio.sleep(0.2)


async def lost(
    missing: set[object],
    placed: dict[object, asyncio.Future[Any]],
    intake: Collector,
    worker: Worker,
) -> str:
    """Where the lost needs stopped: never ingested (by alarm partition and offset), or
    ingested but never published by the situation agent (and whether it dropped them as
    redeliveries)."""
    ingested = {n["origin"]["event_id"] for n in intake.matching(lambda n: True)}
    stuck = sorted(
        (r.partition, r.offset) for r in intake.records if r.json()["origin"]["event_id"] in missing
    )
    log = worker.log_path.read_text(errors="replace")
    dropped = sum(
        1
        for event_id in missing & ingested
        if f"duplicate need {stable_id('need', 'alarm', str(event_id))} dropped" in log
    )
    where: dict[int, list[int]] = {}
    for event_id in missing - ingested:
        meta = await placed[event_id]
        where.setdefault(meta.partition, []).append(meta.offset)
    never = {p: sorted(o) for p, o in sorted(where.items())}
    # Read tike.needs again from the start: are they there after all (a reading problem)?
    bootstrap = worker.env["TIKE_KAFKA_BOOTSTRAP"]
    reread = set()
    for partition in await partitions_of(bootstrap, topics.NEEDS):
        for value, _, _ in await read_partition(bootstrap, topics.NEEDS, partition, 0):
            reread.add(orjson.loads(value)["origin"]["event_id"])
    return (
        f"{len(missing & reread)} of the missing are on tike.needs when it is read again; "
        f"{len(missing)} needs lost: {len(missing & ingested)} on tike.intake but not on "
        f"tike.needs ({dropped} of them dropped as duplicates; tike.intake (partition, offset) "
        f"{stuck}); {len(missing - ingested)} "
        f"never ingested, tike.in.alarms offsets {never}"
    )


# --- Fuzz (tests/integration/test_security.py, bench/fuzz_worker.py) ---


@dataclass
class FuzzResult:
    sent: int
    seconds: float
    reasons: Counter[str]
    missing: list[tuple[tuple[str, int, int], str]]
    without_reason: int
    needs_missing: int
    worker_alive: bool


async def fuzz_worker(
    broker: str, worker: Worker, count: int, seed: int, timeout_s: float, valid_every: int = 100
) -> FuzzResult:
    """Send ``count`` hostile records (simulators/hostile.py) to the input topics with a valid
    alarm among every ``valid_every``; wait until each is dead-lettered and each alarm is a
    need (or ``timeout_s``). ``seconds``: from the first send to the last record seen."""
    from simulators.hostile import hostile, random_key
    from streams.kafka_log import partitions_of
    from tike.records import stable_id

    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    prod = AIOKafkaProducer(
        bootstrap_servers=broker, acks="all", linger_ms=5, max_request_size=1 << 20
    )
    await prod.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in (topics.DEADLETTER, topics.NEEDS)
            for p in await partitions_of(broker, t)
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        rng = random.Random(seed)
        sent: dict[tuple[str, int, int], str] = {}
        want_needs: set[str] = set()
        pending: list[tuple[str, str, Any]] = []
        started = time.monotonic()

        async def settle() -> None:
            for t, h, fut in pending:
                meta = await fut
                sent[(t, meta.partition, meta.offset)] = h
            pending.clear()

        for i, (topic, how, value) in enumerate(hostile(seed, count)):
            key = random_key(rng) if value is not None else b"tombstone"  # a key is required
            pending.append((topic, how, await prod.send(topic, value, key=key)))
            if i % valid_every == 0:
                alarm = example("safety_alarm").model_dump(mode="json")
                alarm.update(event_id=f"fz-ok-{seed}-{i:07d}", device_id=f"dev-fz-{i}")
                want_needs.add(stable_id("need", "alarm", alarm["event_id"]))
                await prod.send(topics.ALARMS, orjson.dumps(alarm), key=b"dev")
            if len(pending) >= 500:
                await settle()
        await settle()

        letters: dict[tuple[str, int, int], str] = {}
        needs: set[str] = set()
        last_seen = time.monotonic()
        deadline = time.monotonic() + timeout_s
        while (
            (len(letters) < len(sent) or not want_needs <= needs)
            and time.monotonic() < deadline
            and worker.alive()
        ):
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, msgs in batch.items():
                for msg in msgs:
                    doc = orjson.loads(msg.value)
                    if tp.topic == topics.NEEDS:
                        needs.add(doc["need_id"])
                        continue
                    where = (doc["topic"], doc["partition"], doc["offset"])
                    if where in sent:
                        letters[where] = doc["reason"]
                        last_seen = time.monotonic()
        return FuzzResult(
            sent=len(sent),
            seconds=last_seen - started,
            reasons=Counter(letters.values()),
            missing=[(w, sent[w]) for w in sent if w not in letters][:50],
            without_reason=sum(1 for r in letters.values() if not r),
            needs_missing=len(want_needs - needs),
            worker_alive=worker.alive(),
        )
    finally:
        await prod.stop()
        await consumer.stop()


# --- `tike up` as a user runs it (tests/integration/test_up.py, tests/ui_static, bench) ---


def stack_ports(env: dict[str, str]) -> dict[str, str]:
    """``env`` with free ports for a `tike up` stack's broker, Redis, gateway and metrics."""
    return {
        **env,
        "TIKE_EMBEDDED_KAFKA_PORT": str(free_port()),
        "TIKE_EMBEDDED_REDIS_PORT": str(free_port()),
        "TIKE_GATEWAY_PORT": str(free_port()),
        "TIKE_METRICS_PORT": str(free_port()),
    }


def clean_env() -> dict[str, str]:
    """This environment without TIKE_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TIKE_")}


def interrupt(proc: subprocess.Popen[str], timeout: float = 40) -> None:
    """Stop a `tike up` as Ctrl-C would; kill it if it does not stop within ``timeout``."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
