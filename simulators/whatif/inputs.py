"""A recording as the situation machine's inputs, on the recording's own clock.

A recording is what ``tike record`` writes (JSON Lines of input-topic records) or a day the
simulator plays without a broker (:func:`simulated_day`). Each record is decoded and
normalised exactly as the worker's ingest does (``tike_core.decode``,
``tike_core.normalise``), at the record's time: a simulator record's ``scenario_time`` when
it has one (a compressed-clock run), otherwise the broker timestamp. What comes out, once for
both runs of a what-if:

- needs (alarms, transports, 116117 calls that need action, and devices that fell silent, by
  the worker's own device supervision, ``tike_core.devices``);
- 116117 call starts (the board's call count);
- the teams' status reports (for ``roster=recorded``).

Recorded team actions and control-room actions are counted and not replayed: in a what-if the
teams answer through the responder model, and the control room's judgement is not modelled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tike import topics
from tike.events import DEVICE_STATUSES
from tike.records import Origin
from tike.regions import Region, Registry
from tike_core.decode import Rejection, decode
from tike_core.devices import observe, silence_check
from tike_core.normalise import normalise

_DEVICE_STATUSES = frozenset(s.value for s in DEVICE_STATUSES)
MAX_BYTES = 1 << 20
#: What device supervision keeps of a device report (heartbeat, low battery, fault).
SLIM = (
    "device_id",
    "controller_id",
    "municipality",
    "client",
    "device_type",
    "age_band",
    "client_flags",
    "synthetic",
    "status_code",
)

#: (topic, key, value as JSON object, broker timestamp in ms)
Row = tuple[str, str | None, dict[str, Any], int]


@dataclass(frozen=True, slots=True)
class Input:
    at: datetime
    kind: str  # "need" or "call"
    value: dict[str, Any]
    cause: dict[str, Any]


@dataclass
class Prepared:
    inputs: list[Input]
    start: datetime
    end: datetime
    team_reports: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def regions(self) -> list[str]:
        return sorted({i.value["region"] for i in self.inputs if i.kind == "need"})


def read_recording(path: Path) -> Iterator[Row]:
    """The rows of a ``tike record`` file. A line that is no record is an error with its
    number; a record whose value is not JSON (``value_b64``) is passed on as ``{}``."""
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
                value = data.get("value")
                yield (
                    str(data["topic"]),
                    data.get("key"),
                    value if isinstance(value, dict) else {},
                    int(data["ts"]),
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: not a recorded record ({exc})") from exc


def write_recording(rows: Iterable[Row], path: Path) -> int:
    """Write rows in ``tike record``'s format; return how many."""
    n = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for topic, key, value, ts in rows:
            f.write(orjson.dumps({"topic": topic, "key": key, "value": value, "ts": ts}) + b"\n")
            n += 1
    return n


def _time(value: dict[str, Any], ts: int) -> tuple[datetime, dict[str, Any]]:
    """The record's time on the recording's clock, and the value dated on that clock."""
    scenario = value.get("scenario_time")
    if isinstance(scenario, str):
        try:
            at = datetime.fromisoformat(scenario.replace("Z", "+00:00"))
        except ValueError:
            at = None
        if at is not None and isinstance(value.get("occurred_at"), str):
            shift = at - datetime.fromisoformat(value["occurred_at"].replace("Z", "+00:00"))
            value = {**value, "occurred_at": scenario}
            window = value.get("pickup_window")
            if isinstance(window, dict):
                value["pickup_window"] = {
                    k: (datetime.fromisoformat(v.replace("Z", "+00:00")) + shift).isoformat()
                    for k, v in window.items()
                    if isinstance(v, str)
                }
            return at, value
    return datetime.fromtimestamp(ts / 1000, UTC), value


class _Devices:
    """The worker's device supervision, fed in time order: a device silent for
    ``timeout`` becomes a ``device_silent`` need when the silence check would see it."""

    def __init__(self, registry: Registry, timeout: timedelta, check_every: timedelta) -> None:
        self.registry, self.timeout, self.every = registry, timeout, check_every
        self.state: dict[str, dict[str, Any]] = {}
        self.last_seen: dict[str, datetime] = {}

    def seen(self, v: dict[str, Any], at: datetime, out: list[Input]) -> None:
        device = v.get("device_id")
        muni = self.registry.municipality(str(v.get("municipality")))
        if not isinstance(device, str) or muni is None:
            return
        before = self.last_seen.get(device)
        if before is not None and at - before >= self.timeout:
            self._silent(device, before, out)
        if before is None or at > before:
            self.last_seen[device] = at
        s = self.state.get(device) or {}
        s.update(
            device_id=device,
            controller_id=str(v.get("controller_id") or device),
            region=muni.region,
            municipality=muni.code,
            synthetic=bool(v.get("synthetic")),
        )
        for key in ("client", "device_type", "age_band"):
            if v.get(key) is not None:
                s[key] = str(v[key])
        if v.get("client_flags"):
            s["client_flags"] = sorted(v["client_flags"])
        self.state[device] = s

    def _silent(self, device: str, last: datetime, out: list[Input]) -> None:
        # The check runs every ``every``: it sees the silence at the first check past it.
        due = last + self.timeout
        ticks = -(-(due.timestamp()) // self.every.total_seconds())
        at = datetime.fromtimestamp(ticks * self.every.total_seconds(), UTC)
        state = {**self.state[device], "last_seen": last.isoformat()}
        sup = observe(state, silence_check(state, at), at, self.timeout)
        for emit in sup.emits:
            if emit.topic == topics.INTAKE:
                need = emit.record.model_dump(mode="json")
                out.append(Input(at, "need", need, {"topic": "device-supervision"}))

    def finish(self, end: datetime, out: list[Input]) -> None:
        for device, last in self.last_seen.items():
            if end - last >= self.timeout + self.every:
                self._silent(device, last, out)


def prepare(
    rows: Iterable[Row],
    registry: Registry,
    heartbeat_timeout_s: float = 900.0,
    silence_check_s: float = 30.0,
) -> Prepared:
    """Decode and normalise a recording into the machine's inputs, oldest first."""
    out: list[Input] = []
    counts: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    reports: list[tuple[datetime, dict[str, Any]]] = []
    timed = []
    slim: dict[str, dict[str, Any]] = {}
    for n, (topic, _key, value, ts) in enumerate(rows):
        at, value = _time(value, ts)
        if topic == topics.ALARMS and value.get("status_code") in _DEVICE_STATUSES:
            # A day holds hundreds of thousands of heartbeats: keep one small record per
            # device (what supervision needs), not each heartbeat's whole value.
            device = str(value.get("device_id"))
            value = slim.get(device) or slim.setdefault(device, {k: value.get(k) for k in SLIM})
        timed.append((at, n, topic, value))
    timed.sort(key=lambda r: (r[0], r[1]))
    devices = _Devices(
        registry, timedelta(seconds=heartbeat_timeout_s), timedelta(seconds=silence_check_s)
    )
    for at, n, topic, value in timed:
        counts["records"] += 1
        kind = topics.INPUT_KINDS.get(topic)
        if kind is None:
            counts["other_topics"] += 1
            continue
        if kind == "team_status":
            counts["team_reports"] += 1
            reports.append((at, value))
            continue
        if kind == "team_event":
            counts["team_actions_not_replayed"] += 1
            continue
        if kind == "control_action":
            counts["control_actions_not_replayed"] += 1
            continue
        if kind == "safety_alarm":
            devices.seen(value, at, out)
            if value.get("status_code") in _DEVICE_STATUSES:
                counts["device_reports"] += 1
                continue
        event = decode(orjson.dumps(value), kind, MAX_BYTES)
        if isinstance(event, Rejection):
            rejected[event.reason.value] += 1
            continue
        origin = Origin(event_id=event.event_id, topic=topic, partition=0, offset=n)
        result = normalise(event, registry, origin, at)
        if isinstance(result, Rejection):
            rejected[result.reason.value] += 1
            continue
        for emit in result:
            if emit.topic == topics.INTAKE:
                need = emit.record.model_dump(mode="json")
                out.append(Input(at, "need", need, {"topic": topic, "partition": 0, "offset": n}))
            elif emit.topic == topics.CALLS:
                call = emit.record.model_dump(mode="json")
                if call.get("phase") == "started":
                    out.append(Input(at, "call", call, {"topic": topic, "offset": n}))
    if not timed:
        raise ValueError("the recording holds no records")
    start, end = timed[0][0], timed[-1][0]
    devices.finish(end, out)
    out = [i for i in out if i.at <= end]
    out.sort(key=lambda i: i.at)
    counts["needs"] = sum(1 for i in out if i.kind == "need")
    counts["supervision_needs"] = sum(
        1 for i in out if i.cause.get("topic") == "device-supervision"
    )
    return Prepared(out, start, end, reports, counts, rejected)


def simulated_day(
    region: Region,
    seed: int = 1,
    hours: float = 24.0,
    start: datetime | None = None,
    device_share: float = 1.0,
    rate: float = 1.0,
    scenario: Any = None,
) -> list[Row]:
    """A run of the seeded simulator (its regional traffic: alarms, transports, 116117 calls,
    heartbeats and team reports), recorded without a broker, as ``tike record`` would.

    ``device_share`` < 1 simulates the heartbeats of that share of the devices only; help
    alarms come at the whole region's rate either way (simulators/scenario.py). A
    ``scenario`` (simulators/scenario.py) sets rates by phase instead; its own
    ``device_share`` is then used."""
    from simulators.basic import BasicSimulator
    from simulators.scenario import Scenario

    start = start or datetime(2026, 11, 24, 0, 0, tzinfo=UTC) - timedelta(hours=2)
    scenario = scenario or Scenario(name="whatif-day", device_share=device_share)
    sim = BasicSimulator(region, seed=seed, rate=rate, start=start, scenario=scenario)
    rows: list[Row] = []
    for _t, (topic, key, event) in sim.events_until(hours * 3600):
        ts = int(event.occurred_at.timestamp() * 1000)
        rows.append((topic, key or None, event.model_dump(mode="json"), ts))
    return rows
