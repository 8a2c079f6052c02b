"""`tike loadtest`: drive a running Tike with a scenario and measure it end to end.

For every event that becomes a need (alarms, transport requests, 116117 calls), the time
from its produce acknowledgement until its routing decision is on `tike.decisions` (by the
decision's Kafka timestamp, so the reader's own poll does not count), until the need's first
board delta arrives on `/ws/board`, and until its dispatch offer arrives on the team's
`/ws/teams/{id}` socket. Also throughput,
the gateway's consumer lag and queue drops, dead letters, and optionally the latency of the
first event after an idle period. Writes JSON and an HTML page with the latency over time.

Every run draws a fresh seed unless one is given: the event ids derive from the seed, and the
worker drops an event whose id it has seen as a redelivery, so a rerun with the same seed
against the same stack would time nothing. The report names the seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import orjson

from simulators.basic import BasicSimulator, stamp
from simulators.scenario import Scenario
from tike import topics
from tike.events import DEVICE_STATUSES
from tike.records import stable_id
from tike.regions import Region
from tike_core.normalise import call_needs_action

#: The need id an input becomes, by the normaliser's own rules (None: no need).
NEED_ID = {
    "safety_alarm": lambda e: (
        None if e.status_code in DEVICE_STATUSES else stable_id("need", "alarm", e.event_id)
    ),
    "transport_request": lambda e: stable_id("need", "transport", e.request_id),
    "call_116117": lambda e: (
        stable_id("need", "call116117", e.call_id) if call_needs_action(e) else None
    ),
}


def fresh_seed() -> int:
    """A new random seed: a load test's event ids derive from its seed, and a rerun with the
    same seed against the same stack sends events the worker rightly drops as redeliveries."""
    return int.from_bytes(os.urandom(4), "big")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(values: list[float]) -> dict[str, Any]:
    top = round(max(values), 1) if values else None
    return {
        "n": len(values),
        "p50_ms": pct(values, 0.5),
        "p90_ms": pct(values, 0.9),
        "p99_ms": pct(values, 0.99),
        "max_ms": top,
    }


@dataclass
class Measure:
    sent: dict[str, float] = field(default_factory=dict)  # need id -> produce ack time
    board: dict[str, float] = field(default_factory=dict)  # need id -> latency ms
    team: dict[str, float] = field(default_factory=dict)
    sent_wall: dict[str, float] = field(default_factory=dict)  # need id -> ack, epoch s
    decided: dict[str, float] = field(default_factory=dict)  # need id -> latency ms
    timeline: list[tuple[float, float, str]] = field(default_factory=list)  # (t, ms, path)
    kinds: dict[str, str] = field(default_factory=dict)
    produced: int = 0
    started: float = field(default_factory=time.monotonic)
    warmup_until: float = float("-inf")  # needs acked before this are the warm-up's
    warm: set[str] = field(default_factory=set)

    def acked(self, need_id: str) -> None:
        now = time.monotonic()
        if need_id not in self.sent and now < self.warmup_until:
            self.warm.add(need_id)
        self.sent.setdefault(need_id, now)
        self.sent_wall.setdefault(need_id, time.time())

    def latencies(self, of: dict[str, float], warm: bool = False) -> list[float]:
        """The latencies of the measured needs (or, ``warm``, of the warm-up's)."""
        return [ms for need, ms in of.items() if (need in self.warm) == warm]

    def seen(self, need_id: str, path: str) -> None:
        target = self.board if path == "board" else self.team
        sent = self.sent.get(need_id)
        if sent is None or need_id in target:
            return
        now = time.monotonic()
        target[need_id] = (now - sent) * 1000
        self.timeline.append((round(now - self.started, 2), round(target[need_id], 1), path))


async def _decisions(bootstrap: str, measure: Measure) -> None:
    """Event to routing decision: the decision record's timestamp (the worker's producer)
    minus the event's produce acknowledgement."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topics.DECISIONS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        async for msg in consumer:
            need_id = orjson.loads(msg.value).get("need_id")
            sent = measure.sent_wall.get(need_id)
            if sent is not None and need_id not in measure.decided:
                measure.decided[need_id] = max(0.0, msg.timestamp - sent * 1000)
    finally:
        await consumer.stop()


async def _watch(url: str, measure: Measure, path: str) -> None:
    from websockets.asyncio.client import connect

    async for ws in connect(url, max_size=2**24):  # reconnects by itself
        with contextlib.suppress(Exception):
            async for raw in ws:
                frame = orjson.loads(raw)
                for item in frame.get("items") or ():
                    if path == "board" and item.get("entity") == "need":
                        measure.seen(str(item.get("id")), "board")
                    elif path == "team" and item.get("kind") == "dispatch":
                        measure.seen(str(item.get("need_id")), "team")


def _stats(m: Measure) -> str:
    recent = list(m.board.values())[-200:]
    return (
        f"sent {m.produced}  needs {len(m.sent)}  on board {len(m.board)}  "
        f"to teams {len(m.team)}  p99 {pct(recent, 0.99) or '-'} ms"
    )


def _progress(total_s: float, console: Any = None) -> tuple[Any, Any]:
    """A rich progress bar on stderr: elapsed of total seconds, and the running figures."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    seconds = TextColumn("{task.completed:>4.0f}/{task.total:.0f} s")
    bar = Progress(
        TextColumn("[bold]loadtest"),
        BarColumn(),
        seconds,
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console or Console(stderr=True),
    )
    return bar, bar.add_task("loadtest", total=total_s, stats="")


async def _metric(http: Any, url: str, name: str) -> float:
    with contextlib.suppress(Exception):
        text = (await http.get(url)).text
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )
    return 0.0


async def loadtest(
    bootstrap: str,
    gateway: str,
    token: str,
    region: Region,
    scenario: Scenario | None,
    rate: float,
    duration_s: float,
    seed: int | None = None,
    time_scale: float = 1.0,
    idle_s: float = 0.0,
    progress: bool = True,
    warmup_s: float = 0.0,
) -> dict[str, Any]:
    """``warmup_s`` seconds of the same traffic run first, and their needs are reported apart
    (``warmup``): the first seconds against a fresh stack carry one-off work, such as the
    first heartbeat of every device."""
    import httpx
    from aiokafka import AIOKafkaProducer

    if seed is None:
        seed = fresh_seed()
    sim = BasicSimulator(region, seed=seed, rate=rate, scenario=scenario)
    ws_base = gateway.replace("http", "ws", 1)
    m = Measure()
    urls = [(f"{ws_base}/ws/board?region={region.id}&token={token}", "board")]
    urls += [(f"{ws_base}/ws/teams/{t.team_id}?token={token}", "team") for t in sim.teams]
    watchers = [asyncio.create_task(_watch(url, m, path)) for url, path in urls]
    watchers.append(asyncio.create_task(_decisions(bootstrap, m)))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await producer.start()
    await asyncio.sleep(2)  # sockets connect and take their snapshots
    bar, task = _progress(duration_s) if progress else (None, None)
    if bar is not None:
        bar.start()
    m.started = began = time.monotonic()
    m.warmup_until = began + warmup_s
    dead_before = 0.0
    async with httpx.AsyncClient(timeout=5) as http:
        dead_before = await _metric(http, f"{gateway}/metrics", "tike_deadletter_records")
        try:
            while (elapsed := time.monotonic() - began) < duration_s + warmup_s:
                for _, (topic, key, event) in sim.events_until(elapsed * time_scale):
                    event = stamp(event, datetime.now(UTC))
                    fut = await producer.send(
                        topic,
                        event.__pydantic_serializer__.to_json(event),
                        key=key.encode() or None,
                    )
                    m.produced += 1
                    kind = str(getattr(event, "kind", ""))
                    need = NEED_ID.get(kind, lambda e: None)(event)
                    if need is not None:
                        m.kinds[need] = kind
                        fut.add_done_callback(lambda f, n=need: m.acked(n))
                if bar is not None:
                    bar.update(task, completed=elapsed, stats=_stats(m))
                await asyncio.sleep(0.05)
            await producer.flush()
            await asyncio.sleep(5)  # let the last needs arrive
            idle = None
            if idle_s > 0:
                await asyncio.sleep(idle_s)
                event = stamp(sim._alarm(sim.start), datetime.now(UTC))  # one more alarm
                need = str(NEED_ID["safety_alarm"](event))
                await producer.send_and_wait(topics.ALARMS, event.model_dump_json().encode())
                m.acked(need)
                for _ in range(100):
                    if need in m.board:
                        break
                    await asyncio.sleep(0.1)
                idle = m.board.get(need)
            lag = await _metric(http, f"{gateway}/metrics", "tike_gateway_consumer_lag")
            drops = await _metric(http, f"{gateway}/metrics", "tike_gateway_queue_drops_total")
            dead = await _metric(http, f"{gateway}/metrics", "tike_deadletter_records")
        finally:
            for task in watchers:
                task.cancel()
            await producer.stop()
    if bar is not None:
        bar.update(task, completed=duration_s, stats=_stats(m))
        bar.stop()
    ran = time.monotonic() - began
    return {
        "scenario": scenario.name if scenario else "basic",
        "rate": rate,
        "seed": seed,
        "duration_s": round(ran, 1),
        "time_scale": time_scale,
        "produced": m.produced,
        "events_per_s": round(m.produced / ran, 1),
        "needs_sent": len(m.sent),
        "needs_on_board": len(m.board),
        "offers_on_team_sockets": len(m.team),
        "needs_missing_from_board": len(set(m.sent) - set(m.board)),
        "missing_by_source": dict(Counter(m.kinds.get(n, "?") for n in set(m.sent) - set(m.board))),
        "event_to_decision": summary(m.latencies(m.decided)),
        "needs_without_decision": len(set(m.sent) - set(m.decided)),
        "event_to_board": summary(m.latencies(m.board)),
        "event_to_team_alert": summary(m.latencies(m.team)),
        "warmup": {
            "seconds": warmup_s,
            "needs": len(m.warm),
            "event_to_decision": summary(m.latencies(m.decided, warm=True)),
            "event_to_board": summary(m.latencies(m.board, warm=True)),
        },
        "gateway_consumer_lag_at_end": lag,
        "gateway_queue_drops": drops,
        "deadletters_during_run": dead - dead_before,
        "first_event_after_idle_ms": None if idle_s <= 0 else idle,
        "idle_s": idle_s,
        "timeline": m.timeline,
    }


def write_report(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """JSON report and an HTML page with inline SVG panels of latency over time."""
    from simulators.plot import latency_panels

    out.mkdir(parents=True, exist_ok=True)
    js, html = out / "loadtest.json", out / "loadtest.html"
    js.write_text(json.dumps(result, indent=2))
    stats = {k: v for k, v in result.items() if k != "timeline"}
    title = f"Tike load test: {result['scenario']} ×{result['rate']}, seed {result['seed']}"
    html.write_text(f"""<!doctype html><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:16px;color:#222}}
svg.panel{{display:block;margin:8px 0 16px;border:1px solid #d0d4d9}}</style>
<h1>{escape(title)}</h1>
<p>Seed {result["seed"]} (rerun the same events with <code>--seed {result["seed"]}</code>),
{result["duration_s"]} s, {result["produced"]} events, {result["needs_sent"]} needs.
Latency from an event's produce acknowledgement to the first sight of its need on each path,
by time into the run: per time bucket the median (line), the p90 and p99 (bands above it) and
the single samples (dots). Both panels use the same latency scale.</p>
{latency_panels(result["timeline"])}
<pre>{escape(json.dumps(stats, indent=2))}</pre>
""")
    return js, html
