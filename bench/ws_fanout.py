"""Websocket fan-out: one gateway process with N `/ws/board` clients.

    .venv/bin/python bench/ws_fanout.py --clients 100,1000,5000 --events 50 \
        --out bench/results/ws_fanout.json

Starts the embedded broker and Redis once, and a fresh gateway process for each client count
(memory figures are not mixed up with the previous size's heap). No stream worker: the board
is seeded and probed by producing board deltas straight to `tike.board`, built by the real
situation machine (:class:`tike_core.situation.machine.Situation`): teams, needs routed by the
default ruleset, KPIs; each probe is a control-room "acknowledge" of one need, i.e. a new
version of a real need entity. The probe carries ``data.bench = {probe, sent_at}``
(``time.time()`` just before the produce), which the projector and the fan-out pass on
unchanged, so every client computes its own delivery latency on the same clock.

Clients run in ``--workers`` separate processes, many connections each, permessage-deflate
offered as browsers do unless ``--compression none``. ``--client raw`` (the default) is a lean
protocol client that inflates every frame but parses JSON only for the snapshot and the frames
that carry a probe, so the load side costs little of the two cores; ``--client websockets``
uses the ``websockets`` asyncio client and parses every frame, as a browser does.
Latency is produce → Kafka → gateway projector → Redis → fan-out reader → per-client outbox
→ frame pacing (at most ``TIKE_WS_MAX_FPS`` = 10 frames/s per client, so up to 100 ms of
waiting is included by design) → socket → client. A separate Redis reader in this process
timestamps each probe's arrival in the Redis stream, to split that into "to Redis" and
"Redis to client" (fan-out).

Memory is the gateway's VmRSS after a 5-client warm-up and after all N clients have their
snapshot (per client = growth / N). CPU comes from /proc (gateway, clients, Redis, broker and
the whole host, which may be shared). ``--redis-max-connections N`` lifts redis-py's default
pool of 100 through the Redis URL (no gateway code change), to see past that limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REGION = "etela-pohjanmaa"
MUNICIPALITIES = [
    ("743", 62.79, 22.84),
    ("301", 62.62, 22.40),
    ("233", 63.10, 23.06),
    ("408", 62.97, 23.01),
    ("232", 62.43, 22.18),
    ("145", 62.73, 22.58),
    ("010", 62.59, 23.62),
    ("005", 63.00, 23.82),
]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- helpers ------------------------------------------------------------------------------


def _pct(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(values: Iterable[float]) -> dict[str, float] | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return {
        "p50": _pct(ordered, 0.5),
        "p90": _pct(ordered, 0.9),
        "p99": _pct(ordered, 0.99),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


def proc_status(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def host_cpu_seconds() -> float:
    """CPU time the whole machine spent busy (every process, every core), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- client processes ---------------------------------------------------------------------


class Conn:
    __slots__ = ("closed", "frames", "probes", "resyncs")

    def __init__(self) -> None:
        self.frames = 0
        self.resyncs = 0
        self.closed: int | None = None
        self.probes: dict[int, float] = {}  # probe -> receive time (time.time())


def _upgrade_request(host: str, path: str, deflate: bool) -> bytes:
    """A websocket handshake request, offering permessage-deflate as browsers do."""
    import base64

    key = base64.b64encode(os.urandom(16)).decode()
    offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{offer if deflate else ''}\r\n"
    ).encode()


_PROBE = re.compile(rb'"bench":\{"probe":(\d+)')  # orjson keeps the probe's key order


class _RawWs(asyncio.Protocol):
    """A lean websocket client for the load side of the bench: it inflates every frame
    (permessage-deflate as negotiated) and counts it, but parses JSON only for the snapshot
    and for frames that carry a probe. The `websockets` client (``--client websockets``) also
    parses every frame, as a browser would; on two shared cores its cost, not the gateway's,
    sets the latency at thousands of clients."""

    def __init__(
        self, host: str, path: str, conn: Conn, ready: asyncio.Future[bytes], deflate: bool
    ) -> None:
        self.host, self.path, self.conn, self.ready = host, path, conn, ready
        self.deflate = deflate
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.handshaken = False
        self.inflate: Any = None
        self.fragments: list[bytes] = []
        self.fragment_compressed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(_upgrade_request(self.host, self.path, self.deflate))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.handshaken:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            if " 101 " not in head.split("\r\n", 1)[0]:
                self._fail(f"handshake: {head.splitlines()[0][:80]}")
                return
            self.handshaken = True
            if "permessage-deflate" in head.lower():
                bits = 15
                for part in head.lower().split("server_max_window_bits=")[1:]:
                    bits = int(part.split(";")[0].split("\r")[0].strip() or 15)
                self.inflate = zlib.decompressobj(-bits)
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length, at = b1 & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, at = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + length:
                return
            payload = bytes(buf[at : at + length])
            del buf[: at + length]
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping: answer, masked as a client must
                self._send(0xA, payload)
            elif opcode == 0x8:
                self.conn.closed = int.from_bytes(payload[:2], "big") if payload else 1005
                if self.transport is not None:
                    self.transport.close()
                return
            elif opcode in (0x1, 0x2, 0x0):
                if opcode:
                    self.fragment_compressed = bool(b0 & 0x40)
                self.fragments.append(payload)
                if b0 & 0x80:
                    body = b"".join(self.fragments)
                    self.fragments = []
                    if self.fragment_compressed and self.inflate is not None:
                        body = self.inflate.decompress(body + b"\x00\x00\xff\xff")
                    self._message(body)

    def _message(self, body: bytes) -> None:
        now = time.time()
        c = self.conn
        if not self.ready.done():
            self.ready.set_result(body)
            return
        c.frames += 1
        if b'"snapshot"' in body[:64]:
            c.resyncs += 1
        for probe in _PROBE.findall(body):
            c.probes.setdefault(int(probe), now)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        self._send(0x8, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn.closed is None:
            self.conn.closed = -1
        self._fail("connection lost before the snapshot")


async def _client_main(
    pipe: Connection, url: str, n: int, concurrency: int, deflate: bool, kind: str
) -> None:
    from websockets.asyncio.client import ClientConnection, connect

    loop = asyncio.get_running_loop()
    conns: list[Conn] = []
    sockets: list[ClientConnection] = []
    readers: list[asyncio.Task[None]] = []
    raws: list[_RawWs] = []
    connect_s: list[float] = []
    snapshot_bytes: list[int] = []
    errors: dict[str, int] = {}
    sem = asyncio.Semaphore(concurrency)

    async def read(ws: ClientConnection, c: Conn) -> None:
        try:
            async for raw in ws:
                now = time.time()
                frame = orjson.loads(raw)
                c.frames += 1
                if frame.get("type") == "snapshot":
                    c.resyncs += 1
                for item in frame.get("items") or ():
                    bench = (item.get("data") or {}).get("bench")
                    if bench is not None and bench["probe"] not in c.probes:
                        c.probes[bench["probe"]] = now
        except Exception:
            pass
        c.closed = ws.close_code if ws.close_code is not None else -1

    async def open_raw() -> None:
        async with sem:
            started = time.monotonic()
            parts = urlsplit(url)
            c = Conn()
            ready: asyncio.Future[bytes] = loop.create_future()
            try:
                _, proto = await loop.create_connection(
                    lambda: _RawWs(parts.netloc, f"{parts.path}?{parts.query}", c, ready, deflate),
                    parts.hostname or "127.0.0.1",
                    parts.port or 80,
                )
                raw = await asyncio.wait_for(ready, 300)
            except Exception as exc:
                key = f"{type(exc).__name__}: {str(exc)[:80]}"
                errors[key] = errors.get(key, 0) + 1
                return
            if orjson.loads(raw).get("type") != "snapshot":
                errors["first frame not a snapshot"] = (
                    errors.get("first frame not a snapshot", 0) + 1
                )
            connect_s.append(time.monotonic() - started)
            snapshot_bytes.append(len(raw))
            conns.append(c)
            raws.append(proto)

    async def open_one() -> None:
        async with sem:
            started = time.monotonic()
            try:
                ws = await connect(
                    url,
                    compression="deflate" if deflate else None,
                    max_size=2**25,
                    open_timeout=300,
                    ping_interval=None,
                    close_timeout=5,
                )
                raw = await asyncio.wait_for(ws.recv(), 300)
            except Exception as exc:
                key = f"{type(exc).__name__}: {str(exc)[:80]}"
                errors[key] = errors.get(key, 0) + 1
                return
            first = orjson.loads(raw)
            if first.get("type") != "snapshot":
                errors["first frame not a snapshot"] = (
                    errors.get("first frame not a snapshot", 0) + 1
                )
            connect_s.append(time.monotonic() - started)
            snapshot_bytes.append(len(raw))
            c = Conn()
            conns.append(c)
            sockets.append(ws)
            readers.append(asyncio.create_task(read(ws, c)))

    pipe.send(("hello", os.getpid()))
    await loop.run_in_executor(None, pipe.recv)  # "go"
    started = time.monotonic()
    opener = open_raw if kind == "raw" else open_one
    await asyncio.gather(*(opener() for _ in range(n)))
    pipe.send(
        (
            "ready",
            {
                "wall_s": time.monotonic() - started,
                "connected": len(conns),
                "errors": errors,
                "connect_s": connect_s,
                "snapshot_bytes": snapshot_bytes,
            },
        )
    )
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd == "status":
            pipe.send(("status", sum(len(c.probes) for c in conns)))
        elif cmd == "frames":
            pipe.send(("frames", sum(c.frames for c in conns)))
        elif cmd == "stop":
            break
    results = [
        {"frames": c.frames, "resyncs": c.resyncs, "closed": c.closed, "probes": c.probes}
        for c in conns
    ]

    async def close(ws: ClientConnection) -> None:
        async with sem:
            with contextlib.suppress(Exception):
                await ws.close()

    await asyncio.gather(*(close(ws) for ws in sockets))
    for proto in raws:
        proto.close()
    for task in readers:
        task.cancel()
    pipe.send(("results", results))


def client_process(
    pipe: Connection, url: str, n: int, concurrency: int, deflate: bool, kind: str
) -> None:
    # The load side yields the cores to the gateway and its broker and Redis when they
    # contend, as clients on other machines would; it still gets whatever they leave.
    os.nice(10)
    asyncio.run(_client_main(pipe, url, n, concurrency, deflate, kind))


class ClientPool:
    """``workers`` processes holding ``n`` connections between them."""

    def __init__(
        self, url: str, n: int, workers: int, concurrency: int, deflate: bool, kind: str
    ) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        shares = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
        for share in shares:
            if share == 0:
                continue
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=client_process,
                args=(theirs, url, share, concurrency, deflate, kind),
                daemon=True,
            )
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)
        self.pids = [self._expect(p, "hello", 60) for p in self.pipes]

    @staticmethod
    def _expect(pipe: Connection, kind: str, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise TimeoutError(f"client process: no {kind!r} in {timeout} s")
        got, value = pipe.recv()
        if got != kind:
            raise RuntimeError(f"client process: expected {kind!r}, got {got!r}")
        return value

    def connect_all(self, timeout: float) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send("go")
        return [self._expect(p, "ready", timeout) for p in self.pipes]

    def received(self) -> int:
        for pipe in self.pipes:
            pipe.send("status")
        return sum(self._expect(p, "status", 60) for p in self.pipes)

    def frames(self) -> int:
        for pipe in self.pipes:
            pipe.send("frames")
        return sum(self._expect(p, "frames", 60) for p in self.pipes)

    def stop(self) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send("stop")
        out: list[dict[str, Any]] = []
        for pipe in self.pipes:
            out.extend(self._expect(pipe, "results", 300))
        return out

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


# --- the board: real situation-machine output ----------------------------------------------


class Board:
    """Seeds a region's board and makes probe deltas with the situation machine."""

    def __init__(self, teams: int, needs: int) -> None:
        from rules.engine import Router
        from tike import topics
        from tike_core.situation.machine import Situation

        self.topics = topics
        router = Router.default()
        self.sit = Situation(lambda: router)
        self.now = datetime.now(UTC) - timedelta(minutes=5)
        self.offset = 0
        self.seed: list[dict[str, Any]] = []
        self.need_ids: list[str] = []
        codes = [c for c, _, _ in MUNICIPALITIES]
        for i in range(teams):
            code, lat, lon = MUNICIPALITIES[i % len(MUNICIPALITIES)]
            team = {
                "team_id": f"EP-SR-{i:02d}",
                "region": REGION,
                "team_type": "safety_responder",
                "status": "available",
                "location": {"lat": lat, "lon": lon},
                "skills": ["lifting"],
                "capacity": 4,
                "shift": None,
                "coverage": codes,
                "reported_at": self.now.isoformat(),
                "synthetic": False,
            }
            self._keep(self.sit.on_team_state(team, self.now, self._cause(topics.TEAM_STATE)))
        for i in range(needs):
            code, lat, lon = MUNICIPALITIES[i % len(MUNICIPALITIES)]
            need_id = f"need-bench-{i:04d}"
            need = {
                "need_id": need_id,
                "region": REGION,
                "municipality": code,
                "source": "safety_alarm",
                "alarm_code": "fall_detected",
                "operator_assessment": "no_injury",
                "occurred_at": self.now.isoformat(),
                "client_flags": [],
                "location": {"lat": lat, "lon": lon},
            }
            at = self.now + timedelta(seconds=i)
            self._keep(self.sit.on_need(need, at, self._cause(topics.NEEDS)))
            self.need_ids.append(need_id)
        self._keep(self.sit.on_tick(self.now + timedelta(seconds=needs + 1), self._cause("tick")))
        latest = {(d["entity"], d["id"]): d for d in self.seed}
        self.entities = len(latest)
        self.bytes = sum(len(orjson.dumps(d)) for d in latest.values())

    def _cause(self, topic: str) -> dict[str, Any]:
        self.offset += 1
        return {"topic": topic, "partition": 0, "offset": self.offset}

    def _keep(self, record: dict[str, Any] | None) -> list[dict[str, Any]]:
        board = [
            o["value"] for o in (record or {}).get("outputs", ()) if o["topic"] == self.topics.BOARD
        ]
        self.seed.extend(board)
        return board

    def probe(self, probe: int) -> dict[str, Any]:
        """A control-room acknowledge of one need: one new need version, marked for timing."""
        need_id = self.need_ids[probe % len(self.need_ids)]
        ev = {
            "kind": "control_action",
            "event_id": f"bench-ack-{probe}-{time.time_ns()}",
            "region": REGION,
            "need_id": need_id,
            "command": "acknowledge",
            "actor": "bench",
            "reason": f"probe {probe}",
        }
        record = self.sit.on_control(ev, datetime.now(UTC), self._cause("commands"))
        (delta,) = [
            o["value"] for o in (record or {}).get("outputs", ()) if o["topic"] == self.topics.BOARD
        ]
        return dict(delta)


# --- one size -----------------------------------------------------------------------------


async def _redis_arrivals(redis_url: str, stream: str, into: dict[int, float]) -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url(redis_url)
    last = "$"
    try:
        while True:
            found: Any = await r.xread({stream: last}, count=500, block=1000)
            now = time.time()
            for _stream, entries in found or ():
                for eid, fields in entries:
                    last = eid
                    bench = (orjson.loads(fields[b"d"]).get("data") or {}).get("bench")
                    if bench is not None:
                        into.setdefault(bench["probe"], now)
    finally:
        await r.aclose()


async def _send_probe(prod: Any, board: Board, probe: int) -> float:
    from tike import topics

    delta = board.probe(probe)
    sent = time.time()
    delta["data"] = {**delta["data"], "bench": {"probe": probe, "sent_at": sent}}
    await prod.send_and_wait(topics.BOARD, orjson.dumps(delta), key=REGION.encode())
    return sent


async def _warm_up(url: str, prod: Any, board: Board, probes: list[int]) -> None:
    """A few clients and probes, so one-off imports and caches are not counted per client."""
    from websockets.asyncio.client import connect

    sockets = [await connect(url, max_size=2**25, ping_interval=None) for _ in range(5)]
    for ws in sockets:
        await asyncio.wait_for(ws.recv(), 30)
    for probe in probes:
        await _send_probe(prod, board, probe)
    for ws in sockets:
        seen: set[int] = set()
        while not set(probes) <= seen:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
            for item in frame.get("items") or ():
                bench = (item.get("data") or {}).get("bench")
                if bench is not None:
                    seen.add(bench["probe"])
    for ws in sockets:
        await ws.close()


def _log_counts(path: Path, top: int = 8) -> dict[str, int]:
    """The gateway's most frequent log lines (tracebacks left out)."""
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            if line and not line[0].isspace() and not line.startswith("Traceback"):
                key = re.sub(r"^\d{4}-\d\d-\d\d [\d:,.]+ ", "", line)[:120]
                counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:top])


async def _get(port: int, path: str) -> bytes:
    """One plain HTTP GET to the gateway: the whole response, headers included."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _healthz_ms(port: int) -> float:
    """One GET /healthz (a Redis PING and GET on the gateway's pool): event-loop lag proxy."""
    started = time.monotonic()
    await _get(port, "/healthz")
    return (time.monotonic() - started) * 1000


async def _gc_pauses(port: int) -> dict[str, list[float]] | None:
    """The gateway's ``tike_gc_pause_seconds`` per generation: [count, sum of seconds]
    (None for a gateway without the metric, e.g. the baseline)."""
    body = (await _get(port, "/metrics")).decode(errors="replace")
    out: dict[str, list[float]] = {}
    for m in re.finditer(
        r'^tike_gc_pause_seconds_(count|sum)\{generation="(\d)"\} ([0-9.e+-]+)$', body, re.M
    ):
        out.setdefault(m[2], [0.0, 0.0])[0 if m[1] == "count" else 1] = float(m[3])
    return out or None


def _gc_delta(
    before: dict[str, list[float]] | None, after: dict[str, list[float]] | None
) -> dict[str, Any] | None:
    if after is None:
        return None
    before = before or {}
    return {
        gen: {
            "collections": int(c - before.get(gen, [0, 0])[0]),
            "pause_s": round(t - before.get(gen, [0, 0])[1], 3),
        }
        for gen, (c, t) in sorted(after.items())
    }


async def _sample(
    port: int,
    pids: dict[str, list[int]],
    redis_url: str,
    phase: list[str],
    into: list[dict[str, Any]],
) -> None:
    """Once a second: CPU % of each process, /healthz latency, Redis clients and ops/s."""
    import redis.asyncio as aioredis

    r = aioredis.from_url(redis_url)

    def cpus() -> dict[str, float]:
        out: dict[str, float] = {}
        for name, group in pids.items():
            with contextlib.suppress(OSError):
                out[name] = sum(cpu_seconds(pid) for pid in group)
        out["host"] = host_cpu_seconds()
        return out

    try:
        before, t = cpus(), time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            try:
                health: float | None = round(await _healthz_ms(port), 1)
            except (OSError, TimeoutError):
                health = None
            now_cpu, now = cpus(), time.monotonic()
            info: Any = await r.info()
            into.append(
                {
                    "t": round(now, 1),
                    "phase": phase[0],
                    "cpu_pct": {
                        k: round(100 * (v - before.get(k, v)) / (now - t))
                        for k, v in now_cpu.items()
                    },
                    "interval_s": round(now - t, 1),
                    "healthz_ms": health,
                    "redis_clients": info.get("connected_clients"),
                    "redis_ops_s": info.get("instantaneous_ops_per_sec"),
                }
            )
            before, t = now_cpu, now
    finally:
        await r.aclose()


def _redis_clients(redis_url: str) -> int:
    import redis

    r = redis.Redis.from_url(redis_url)
    try:
        return int(r.info("clients")["connected_clients"])
    finally:
        r.close()


def gateway_pids(pid: int) -> list[int]:
    """A gateway process and its descendants (uvicorn's worker processes with --workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                raw = Path(f"/proc/{p}/task/{task}/children").read_text()
                todo.extend(int(c) for c in raw.split())
    return [p for p in out if b"resource_tracker" not in _cmdline(p)]


def _cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


def _tree(pids: list[int], what: str) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid) if what == "cpu" else proc_status(pid, what)
    return total


def start_gateway(
    args: argparse.Namespace, variant: str, broker: str, redis_url: str, log: Path
) -> Any:
    """``tike gateway`` of today's checkout (``new``) or of ``--baseline`` (``old``), with
    ``--gateway-workers`` processes (new only)."""
    from tike_cli.embedded import spawn, tike_command
    from tike_cli.harness import Gateway, wait_ready

    # The harness's lease is 2 s (for fast fail-over tests); the production default is 5 s.
    extra = {"TIKE_LOG_LEVEL": "warning", "TIKE_PROJECTOR_LEASE_S": "5"}
    if args.compression == "none" and variant.startswith("new"):
        extra["TIKE_WS_COMPRESSION"] = "false"
    if variant.startswith("new+"):  # --also-env
        key, _, value = variant[4:].partition("=")
        extra[key] = value
    gw = Gateway.create(broker, redis_url, log, **extra)
    argv = tike_command("gateway")
    cwd = None
    if variant == "old":
        gw.env["PYTHONPATH"] = str(args.baseline)
        cwd = args.baseline  # `python -m` puts the working directory first on sys.path
        argv = [sys.executable, "-m", "tike", "gateway"]  # the CLI's module before tike_cli
    elif args.gateway_workers > 1:
        argv += ["--workers", str(args.gateway_workers)]
    with log.open("ab") as out:
        gw.child = spawn("gateway", argv, env=gw.env, log=out, cwd=cwd)

    def ready() -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(gw.url + "/healthz", timeout=2) as resp:
                return int(resp.status) == 200
        except OSError:
            return False

    wait_ready(gw.child, ready, 60, log)
    if args.gateway_workers > 1 and variant.startswith("new"):
        deadline = time.monotonic() + 60
        while len(gateway_pids(gw.child.proc.pid)) < args.gateway_workers + 1:
            if time.monotonic() > deadline:
                raise TimeoutError("gateway workers did not start")
            time.sleep(0.2)
    return gw


def _py_spy(
    args: argparse.Namespace, pids: list[int], name: str, seconds: float
) -> tuple[Any, Path] | None:
    """py-spy on the gateway (its busiest worker process) during the probes, if asked."""
    if not args.py_spy:
        return None
    import subprocess

    args.py_spy.mkdir(parents=True, exist_ok=True)
    target = pids[-1]  # the gateway itself, or its last worker process
    out = args.py_spy / f"{name}.txt"
    spy = Path(sys.executable).parent / "py-spy"
    argv = [str(spy), "record", "-p", str(target), "-d", str(int(seconds) + 1), "-r", "200"]
    argv += ["-f", "raw", "-o", str(out), "--nonblocking"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out


def _frame_name(frame: str) -> str:
    """``func (path/file.py:123)`` -> ``func (file.py)``."""
    func, _, where = frame.partition(" (")
    return f"{func} ({where.rsplit('/', 1)[-1].rsplit(':', 1)[0].rstrip(')')})"


def _py_spy_top(spy: tuple[Any, Path] | None, top: int = 15) -> dict[str, Any] | None:
    """Where the gateway's time went: share of samples per function (self) and per
    function anywhere on the stack (inclusive), from py-spy's collapsed stacks."""
    if spy is None:
        return None
    proc, out = spy
    proc.wait(120)
    self_n: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    with contextlib.suppress(OSError):
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [_frame_name(f) for f in stack.split(";")]
            total += n
            if frames:
                self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
            for f in set(frames):
                incl[f] = incl.get(f, 0) + n

    def pct(d: dict[str, int]) -> dict[str, float]:
        best = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return {k: round(100 * v / max(1, total), 1) for k, v in best}

    return {"samples": total, "file": str(out), "self_pct": pct(self_n), "inclusive_pct": pct(incl)}


async def _slow_clients(port: int, path: str, k: int) -> list[Any]:
    """``k`` websocket clients that complete the handshake and never read again (a 4 KiB
    receive buffer), like a phone on a dead network that has not timed out yet."""
    import socket

    socks = []
    for _ in range(k):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
        request = _upgrade_request(f"127.0.0.1:{port}", path, deflate=True)
        await asyncio.get_running_loop().sock_sendall(s, request)
        socks.append(s)
    return socks


async def _probe_round(
    args: argparse.Namespace,
    prod: Any,
    board: Board,
    pool: ClientPool,
    connected: int,
    probes: list[int],
    lead: list[int],
) -> tuple[dict[int, float], dict[int, float]]:
    """Send ``lead`` then ``probes`` at ``--rate``, one paced sequence; wait for every
    delivery. Returns the send times of the counted probes and of the lead-in ones."""
    sent: dict[int, float] = {}
    lead_sent: dict[int, float] = {}
    earlier = await asyncio.to_thread(pool.received)  # deliveries of the rounds before
    t1 = time.monotonic()
    for i, probe in enumerate([*lead, *probes]):
        delay = t1 + i / args.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        (lead_sent if i < len(lead) else sent)[probe] = await _send_probe(prod, board, probe)
    want = earlier + connected * (len(lead) + len(probes))
    deadline = time.monotonic() + args.grace
    while time.monotonic() < deadline:
        if await asyncio.to_thread(pool.received) >= want:
            break
        await asyncio.sleep(0.5)
    return sent, lead_sent


def _latencies(results: list[dict[str, Any]], sent: dict[int, float]) -> list[float]:
    return [
        (c["probes"][p] - at) * 1000 for c in results for p, at in sent.items() if p in c["probes"]
    ]


async def run_size(
    args: argparse.Namespace,
    n: int,
    variant: str,
    broker: str,
    redis_url: str,
    board: Board,
    logs: Path,
    next_probe: list[int],
    infra: dict[str, list[int]],
) -> dict[str, Any]:
    from gateway.store import board_key
    from tike_cli.gateway_client import token
    from tike_cli.harness import producer

    gw_redis = redis_url
    if args.redis_max_connections:
        gw_redis += f"?max_connections={args.redis_max_connections}"
    gw_log = logs / f"gateway-{n}-{variant}.log"
    gw = await asyncio.to_thread(start_gateway, args, variant, broker, gw_redis, gw_log)
    pool: ClientPool | None = None
    sampler: asyncio.Task[None] | None = None
    slow: list[Any] = []
    phase = ["connect"]
    samples: list[dict[str, Any]] = []
    prod = await producer(broker)
    arrivals: dict[int, float] = {}
    arrival_task = asyncio.create_task(
        _redis_arrivals(redis_url, board_key(REGION) + ":stream", arrivals)
    )
    sent_slow: dict[int, float] = {}
    gc_at: dict[str, dict[str, list[float]] | None] = {}
    lead_sent: dict[int, float] = {}
    try:
        pids = gateway_pids(gw.child.proc.pid)
        path = f"/ws/board?region={REGION}&token={token('control_room')}"
        url = f"{gw.ws_url}{path}"
        warm = [next_probe[0], next_probe[0] + 1]
        next_probe[0] += 2
        for _ in range(max(1, len(pids) - 1)):  # each worker process gets some warm-up
            await _warm_up(url, prod, board, warm)
            warm = [next_probe[0], next_probe[0] + 1]
            next_probe[0] += 2
        await asyncio.sleep(2)
        rss_before = _tree(pids, "VmRSS")
        redis_before = _redis_clients(redis_url)
        fds_before = sum(fds(p) for p in pids)

        deflate = args.compression == "deflate"
        pool = await asyncio.to_thread(
            ClientPool, url, n, args.workers, args.connect_concurrency, deflate, args.client
        )
        groups = {"gateway": pids, "clients": pool.pids, "driver": [os.getpid()], **infra}
        sampler = asyncio.create_task(
            _sample(int(gw.env["TIKE_GATEWAY_PORT"]), groups, redis_url, phase, samples)
        )
        port = int(gw.env["TIKE_GATEWAY_PORT"])
        gc_at["connect"] = await _gc_pauses(port)
        cpu0, ccpu0, t0 = _tree(pids, "cpu"), pool.cpu(), time.monotonic()
        host0 = host_cpu_seconds()
        ready = await asyncio.to_thread(pool.connect_all, 900)
        gc_at["connected"] = await _gc_pauses(port)
        connect_wall = time.monotonic() - t0
        cpu_connect = _tree(pids, "cpu") - cpu0
        host_connect = host_cpu_seconds() - host0
        connected = sum(r["connected"] for r in ready)
        phase[0] = "idle"
        cpu_i, host_i, t_i = _tree(pids, "cpu"), host_cpu_seconds(), time.monotonic()
        await asyncio.sleep(args.idle)
        idle_wall = time.monotonic() - t_i
        cpu_idle, host_idle = _tree(pids, "cpu") - cpu_i, host_cpu_seconds() - host_i
        rss_after = _tree(pids, "VmRSS")
        redis_after = _redis_clients(redis_url)
        fds_after = sum(fds(p) for p in pids)

        # Probes, paced.
        lead = list(range(next_probe[0], next_probe[0] + args.lead_in))
        next_probe[0] += args.lead_in
        probes = list(range(next_probe[0], next_probe[0] + args.events))
        next_probe[0] += args.events
        phase[0] = "probes"
        gc_at["probes"] = await _gc_pauses(port)
        frames0 = await asyncio.to_thread(pool.frames)
        cpu1, ccpu1, t1 = _tree(pids, "cpu"), pool.cpu(), time.monotonic()
        host1 = host_cpu_seconds()
        spy = _py_spy(args, pids, f"{variant}-{n}", args.events / args.rate + 2)
        sent, lead_sent = await _probe_round(args, prod, board, pool, connected, probes, lead)
        probe_wall = time.monotonic() - t1
        profile = await asyncio.to_thread(_py_spy_top, spy)
        host_probe = host_cpu_seconds() - host1
        cpu_probe = _tree(pids, "cpu") - cpu1
        client_cpu_probe = pool.cpu() - ccpu1
        frames_probe = await asyncio.to_thread(pool.frames) - frames0
        rss_probes = _tree(pids, "VmRSS")
        gc_at["probed"] = await _gc_pauses(port)
        hwm = _tree(pids, "VmHWM")
        if args.slow:
            # The same again with clients that never read: how much do they move the others?
            phase[0] = "slow"
            slow = await _slow_clients(int(gw.env["TIKE_GATEWAY_PORT"]), path, args.slow)
            await asyncio.sleep(1.0)
            lead_slow = list(range(next_probe[0], next_probe[0] + args.lead_in))
            next_probe[0] += args.lead_in
            probes_slow = list(range(next_probe[0], next_probe[0] + args.events))
            next_probe[0] += args.events
            sent_slow, _ = await _probe_round(
                args, prod, board, pool, connected, probes_slow, lead_slow
            )
        results = await asyncio.to_thread(pool.stop)
        client_cpu_connect = ccpu1 - ccpu0
    finally:
        for s in slow:
            s.close()
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sampler
        arrival_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await arrival_task
        await prod.stop()
        if pool is not None:
            pool.kill()
        gw.stop()

    latencies: list[float] = []
    fanout: list[float] = []
    first: list[float] = []
    last: list[float] = []
    per_probe_missed = {p: 0 for p in probes}
    for c in results:
        for p in probes:
            at = c["probes"].get(p)
            if at is None:
                per_probe_missed[p] += 1
                continue
            latencies.append((at - sent[p]) * 1000)
            if p in arrivals:
                fanout.append((at - arrivals[p]) * 1000)
    for p in probes:
        got_p = [c["probes"][p] for c in results if p in c["probes"]]
        if got_p:
            first.append((min(got_p) - sent[p]) * 1000)
            last.append((max(got_p) - sent[p]) * 1000)
    to_redis = [(arrivals[p] - sent[p]) * 1000 for p in probes if p in arrivals]
    missed = sum(per_probe_missed.values())
    errors: dict[str, int] = {}
    for r in ready:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    closed: dict[str, int] = {}
    for c in results:
        if c["closed"] is not None:
            closed[str(c["closed"])] = closed.get(str(c["closed"]), 0) + 1
    connect_s = [s * 1000 for r in ready for s in r["connect_s"]]
    snap = sorted(b for r in ready for b in r["snapshot_bytes"])
    lat = summary(latencies)
    slow_lat = summary(_latencies(results, sent_slow)) if sent_slow else None
    return {
        "profile_during_probes": profile,
        "clients": n,
        "gateway": variant,
        "gateway_processes": len(pids) - 1 if len(pids) > 1 else 1,
        "connected": connected,
        "connect_errors": errors,
        "connect_all_s": round(connect_wall, 2),
        "connect_one_ms": summary(connect_s),
        "snapshot_bytes_median": snap[len(snap) // 2] if snap else None,
        "probes": len(probes),
        "probe_rate_per_s": args.rate,
        "lead_in_probes": len(lead_sent),
        "lead_in_delivery_ms": summary(_latencies(results, lead_sent)),
        "delivery_ms": lat,
        "first_client_per_probe_ms": summary(first),
        "per_probe_last_client_ms": [round(x, 1) for x in last],
        "last_client_per_probe_ms": summary(last),
        "produce_to_redis_ms": summary(to_redis),
        "redis_to_client_ms": summary(fanout),
        "deliveries_expected": connected * len(probes),
        "missed": missed,
        "clients_missing_any": sum(1 for c in results if any(p not in c["probes"] for p in probes)),
        "closed_during_run": closed,
        "frames_per_client_mean": round(
            sum(c["frames"] for c in results) / max(1, len(results)), 1
        ),
        "snapshot_resyncs": sum(c["resyncs"] for c in results),
        "probe_phase_s": round(probe_wall, 2),
        "gateway_rss_kb": {
            "before": rss_before,
            "connected": rss_after,
            "after_probes": rss_probes,
            "peak_hwm": hwm,
        },
        "kb_per_client": round((rss_after - rss_before) / max(1, connected), 1),
        "gateway_cpu_pct": {
            "connect": round(100 * cpu_connect / connect_wall, 1),
            "idle_connected": round(100 * cpu_idle / idle_wall, 1),
            "probes": round(100 * cpu_probe / probe_wall, 1),
        },
        "client_procs_cpu_pct": {
            "connect": round(100 * client_cpu_connect / connect_wall, 1),
            "probes": round(100 * client_cpu_probe / probe_wall, 1),
        },
        "frames_delivered_during_probes": frames_probe,
        "gateway_gc_pauses": {
            "connect": _gc_delta(gc_at.get("connect"), gc_at.get("connected")),
            "probes": _gc_delta(gc_at.get("probes"), gc_at.get("probed")),
            "note": "tike_gc_pause_seconds of the process that answered /metrics",
        },
        "gateway_cpu_us_per_delivered_frame": round(1e6 * cpu_probe / max(1, frames_probe), 1),
        "slow_clients": args.slow,
        "delivery_ms_with_slow_clients": slow_lat,
        "missed_with_slow_clients": (
            connected * len(sent_slow) - len(_latencies(results, sent_slow)) if sent_slow else None
        ),
        "p99_change_with_slow_clients_pct": (
            round(100 * (slow_lat["p99"] / lat["p99"] - 1), 1) if slow_lat and lat else None
        ),
        "host_cpu_pct_of_one_core": {
            "connect": round(100 * host_connect / connect_wall, 1),
            "idle_connected": round(100 * host_idle / idle_wall, 1),
            "probes": round(100 * host_probe / probe_wall, 1),
            "note": f"all processes on this {os.cpu_count()}-core machine, not only this bench",
        },
        "loadavg_end": loadavg(),
        "gateway_fds": {"before": fds_before, "connected": fds_after},
        "redis_connected_clients": {"before": redis_before, "connected": redis_after},
        "gateway_log": _log_counts(gw_log),
        "healthz_ms_during_probes": summary(
            s["healthz_ms"] for s in samples if s["phase"] == "probes" and s["healthz_ms"]
        ),
        "healthz_failed_during_probes": sum(
            1 for s in samples if s["phase"] == "probes" and s["healthz_ms"] is None
        ),
        "timeline": samples,
        "target_p99_250ms_at_5000": (lat is not None and lat["p99"] < 250) if n >= 5000 else None,
    }


def summary_table(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per size and variant, and for each size the new/old ratios."""
    rows: list[dict[str, Any]] = []
    for r in sizes:
        lat = r["delivery_ms"] or {}
        rows.append(
            {
                "clients": r["clients"],
                "gateway": r["gateway"],
                "processes": r["gateway_processes"],
                "connected": r["connected"],
                "missed": r["missed"],
                "p50_ms": lat.get("p50"),
                "p99_ms": lat.get("p99"),
                "cpu_us_per_frame": r["gateway_cpu_us_per_delivered_frame"],
                "kb_per_client": r["kb_per_client"],
                "connect_p50_ms": (r["connect_one_ms"] or {}).get("p50"),
                "p99_with_slow_ms": (r["delivery_ms_with_slow_clients"] or {}).get("p99"),
                "p99_change_with_slow_pct": r["p99_change_with_slow_clients_pct"],
            }
        )
    by = {(r["clients"], r["gateway"]): r for r in rows}
    for (n, variant), new in list(by.items()):
        old = by.get((n, "old"))
        if variant != "new" or old is None:
            continue
        ratio: dict[str, Any] = {"clients": n, "gateway": "new/old"}
        for key in ("p99_ms", "cpu_us_per_frame", "kb_per_client", "connect_p50_ms"):
            if new.get(key) and old.get(key):
                ratio[key] = round(new[key] / old[key], 3)
        rows.append(ratio)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", default="100,1000,5000", help="comma-separated sizes")
    parser.add_argument("--events", type=int, default=50, help="probe events per size")
    parser.add_argument("--rate", type=float, default=5.0, help="probe events per second")
    parser.add_argument(
        "--lead-in",
        type=int,
        default=5,
        help="probes sent at --rate just before each counted round and reported apart "
        "(`lead_in_delivery_ms`): after the idle phase, the board projection's first fetch "
        "waits up to half its idle wait on the embedded broker (TIKE_PROJECTION_IDLE_WAIT_MS)",
    )
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=100,
        help="handshakes in flight per client process",
    )
    parser.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="offer permessage-deflate (browsers do) or not",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "websockets"),
        default="raw",
        help="raw: a lean protocol client that inflates every frame and parses only the "
        "snapshot and probe frames (the load side costs little); websockets: the `websockets` "
        "asyncio client, parsing every frame as a browser does",
    )
    parser.add_argument("--teams", type=int, default=37, help="teams on the seeded board")
    parser.add_argument("--needs", type=int, default=50, help="open needs on the seeded board")
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="max seconds after the last probe to wait for deliveries",
    )
    parser.add_argument(
        "--redis-max-connections",
        type=int,
        default=0,
        help="append ?max_connections=N to the gateway's Redis URL (0: as shipped, redis-py's "
        "default pool of 100)",
    )
    parser.add_argument(
        "--idle", type=float, default=5.0, help="seconds connected without traffic (CPU, RSS)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of the code to compare with (`git worktree add /tmp/base16 de58940`): "
        "each size runs against its gateway, then against this checkout's, in this one run",
    )
    parser.add_argument(
        "--gateway-workers",
        type=int,
        default=1,
        help="`tike gateway --workers N` for this checkout's gateway (the baseline has one)",
    )
    parser.add_argument(
        "--slow",
        type=int,
        default=0,
        help="after the probes, this many clients that never read join, and the probes run "
        "again: the others' p99 with and without them",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="record the gateway with py-spy during the probes into this folder (collapsed "
        "stacks) and report the top functions",
    )
    parser.add_argument(
        "--also-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also run this checkout's gateway with this setting, in the same run (a variant "
        "named new+KEY=VALUE; repeatable), e.g. TIKE_GC_FREEZE=false",
    )
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    args = parser.parse_args()
    sizes = [int(s) for s in args.clients.split(",") if s.strip()]

    from tike import topics
    from tike_cli.harness import producer, start_broker, start_redis

    logs = Path(tempfile.mkdtemp(prefix="tike-wsfanout-"))
    print(f"logs in {logs}", file=sys.stderr)
    b, broker = start_broker(logs)
    r, redis_url = start_redis(logs)
    board = Board(args.teams, args.needs)
    infra = {"redis": [r.proc.pid], "broker": [b.proc.pid]}
    out: dict[str, Any] = {
        "bench": "ws_fanout",
        "command": " ".join([".venv/bin/python", "bench/ws_fanout.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": {
            "gateway": f"fresh `tike gateway` per size and variant, {args.gateway_workers} "
            "uvicorn worker(s) for this checkout; shared embedded broker and Redis; no stream "
            "worker (deltas produced to tike.board)",
            "baseline": str(args.baseline) if args.baseline else None,
            "slow_clients": args.slow,
            "client_processes": args.workers,
            "compression": args.compression,
            "client": args.client,
            "board": {
                "entities": board.entities,
                "teams": args.teams,
                "needs": args.needs,
                "json_bytes": board.bytes,
            },
            "probe": "control-room acknowledge of one need (new need version) with "
            "data.bench.sent_at; latency = client receive time - sent_at (time.time())",
            "pacing": "TIKE_WS_MAX_FPS=10 (default): up to 100 ms waiting per frame is included",
            "gateway_env": "defaults (TIKE_PROJECTOR_LEASE_S=5, TIKE_WS_SEND_TIMEOUT_S=10, "
            "TIKE_WS_QUEUE_MAX=2000), log level warning",
            "gateway_redis_max_connections": args.redis_max_connections or "redis-py default (100)",
        },
        "sizes": [],
    }

    async def seed() -> None:
        prod = await producer(broker)
        try:
            for delta in board.seed:
                await prod.send(topics.BOARD, orjson.dumps(delta), key=REGION.encode())
            await prod.flush()
        finally:
            await prod.stop()

    async def run_all() -> None:
        next_probe = [0]
        variants = ["old", "new"] if args.baseline else ["new"]
        variants += [f"new+{kv}" for kv in args.also_env]
        for n, variant in [(n, v) for n in sizes for v in variants]:
            print(f"{n} clients, {variant} gateway ...", file=sys.stderr)
            result = await run_size(
                args, n, variant, broker, redis_url, board, logs, next_probe, infra
            )
            brief = {k: v for k, v in result.items() if k != "timeline"}
            print(json.dumps(brief), file=sys.stderr)
            same = [x for x in out["sizes"] if x["gateway"] == variant]
            if same:
                prev = same[-1]
                more = result["connected"] - prev["connected"]
                grew = result["gateway_rss_kb"]["connected"] - prev["gateway_rss_kb"]["connected"]
                result["marginal_kb_per_client_vs_previous_size"] = (
                    round(grew / more, 1) if more > 0 else None
                )
            out["sizes"].append(result)
            out["summary"] = summary_table(out["sizes"])
            if args.out:
                args.out.write_text(json.dumps(out, indent=2) + "\n")
            await asyncio.sleep(3)  # the previous gateway's projector lease runs out

    try:
        asyncio.run(seed())
        asyncio.run(run_all())
    finally:
        b.stop()
        r.stop()
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
