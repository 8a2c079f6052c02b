"""Basic generator of all four inputs for a region, at realistic rates times a multiplier.

Arrivals are Poisson with a diurnal curve; heartbeats are periodic per device. The same seed
and start time give the same events.

The generator dates its events on the scenario's clock, which ``--time-scale`` runs faster
than real time. What is produced is :func:`stamp` ed: ``occurred_at`` is the real time of
production (Tike refuses events from the future) and the scenario clock is kept in
``scenario_time``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from simulators.population import Device, Team, make_devices, make_teams
from simulators.scenario import Scenario
from tike import pii, topics
from tike.events import (
    AlarmStatus,
    Call116117,
    CallPhase,
    ConditionCategory,
    Destination,
    Disposition,
    EventBase,
    Location,
    Mobility,
    OperatorAssessment,
    PickupPlace,
    Place,
    SafetyAlarm,
    SymptomCategory,
    TeamAvailability,
    TeamStatus,
    TimeWindow,
    TransportRequest,
    Urgency,
)
from tike.regions import Region

log = logging.getLogger(__name__)

HEARTBEAT_S = 300.0
TEAM_REPORT_S = 60.0
#: Per 200k inhabitants per hour (shared domain brief).
CALLS_PER_HOUR_200K = 6.0
TRANSPORTS_PER_DAY_200K = 80.0
#: Help alarms per device per day (assumption: most devices alarm rarely).
ALARMS_PER_DEVICE_DAY = 0.15

Scheduled = tuple[str, str, EventBase]
E = TypeVar("E", bound=EventBase)


def stamp(event: E, now: datetime) -> E:
    """The event as produced at ``now`` (real time): ``occurred_at`` becomes ``now``, the
    scenario time it had goes to ``scenario_time``, and its other times (a transport's pickup
    window) move with it."""
    shift = now - event.occurred_at
    update: dict[str, Any] = {"occurred_at": now, "scenario_time": event.occurred_at}
    if isinstance(event, TransportRequest):
        window = event.pickup_window
        update["pickup_window"] = TimeWindow(
            earliest=window.earliest + shift, latest=window.latest + shift
        )
    return event.model_copy(update=update)


def diurnal(ts: datetime) -> float:
    """Relative activity by local hour: low at night, peak late morning (mean about 1)."""
    hour = (ts.hour + 2) % 24 + ts.minute / 60  # approximately Finnish local time
    return 1.0 + 0.6 * math.sin(2 * math.pi * (hour - 5) / 24)


class BasicSimulator:
    def __init__(
        self,
        region: Region,
        seed: int = 1,
        rate: float = 1.0,
        start: datetime | None = None,
        scenario: Scenario | None = None,
    ) -> None:
        self.region = region
        self.scenario = scenario or Scenario(name="basic")
        self.rng = random.Random(seed)
        self.rate = rate
        self.start = start or datetime.now(UTC)
        share = self.scenario.device_share
        self.devices: list[Device] = make_devices(self.rng, region, HEARTBEAT_S, share)
        self.teams: list[Team] = make_teams(self.rng, region)
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, str]] = []
        scale = region.population / 200_000
        # Help alarms come at the rate of the whole region's devices, also when a scenario
        # simulates only a share of them (fewer heartbeats, the same alarms).
        region_devices = len(self.devices) / share
        self.rates_per_s = {
            "call": CALLS_PER_HOUR_200K * scale / 3600 * rate,
            "transport": TRANSPORTS_PER_DAY_200K * scale / 86400 * rate,
            "alarm": ALARMS_PER_DEVICE_DAY * region_devices / 86400 * rate,
        }
        for kind in self.rates_per_s:
            self._schedule_arrival(kind, 0.0)
        self._push(0.0, "heartbeats")
        self._push(0.0, "teams")
        self._pending: list[tuple[float, int, Scheduled]] = []

    def _push(self, t: float, what: str) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), what))

    def _clock(self, t: float) -> datetime:
        """The time of day that drives the diurnal curve (the scenario's, if it sets one)."""
        if self.scenario.local_hour is None:
            return self.start + timedelta(seconds=t)
        midnight = self.start.replace(hour=0, minute=0, second=0, microsecond=0)
        # diurnal() reads UTC and adds two hours for Finnish time.
        return midnight + timedelta(hours=self.scenario.local_hour - 2, seconds=t)

    def _schedule_arrival(self, kind: str, t: float) -> None:
        lam = self.rates_per_s[kind] * diurnal(self._clock(t)) * self.scenario.multiplier(kind, t)
        if lam <= 0:  # paused by the scenario: look again in a minute
            self._push(t + 60.0, f"wake-{kind}")
            return
        self._push(t + self.rng.expovariate(lam), kind)

    def _id(self) -> str:
        while True:  # never an id that reads as a personal identity code (1 in 80,000)
            found = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            if not pii.contains_code(found):
                return found

    def events_until(self, t_end: float) -> Iterator[tuple[float, Scheduled]]:
        """Yield (seconds from start, (topic, key, event)) in time order up to ``t_end``."""
        while True:
            next_gen = self._heap[0][0] if self._heap else math.inf
            next_pending = self._pending[0][0] if self._pending else math.inf
            t = min(next_gen, next_pending)
            if t > t_end:
                return
            if next_pending <= next_gen:
                _, _, item = heapq.heappop(self._pending)
                yield t, item
                continue
            _, _, what = heapq.heappop(self._heap)
            for at, item in self._generate(what, t):
                heapq.heappush(self._pending, (at, next(self._seq), item))

    def _generate(self, what: str, t: float) -> list[tuple[float, Scheduled]]:
        now = self.start + timedelta(seconds=t)
        if what == "heartbeats":
            self._push(t + HEARTBEAT_S, "heartbeats")
            return [
                (t + d.phase_s, (topics.ALARMS, d.device_id, self._heartbeat(d, t + d.phase_s)))
                for d in self.devices
                if not self.scenario.device_silent(d.device_id, t + d.phase_s)
            ]
        if what == "teams":
            self._push(t + TEAM_REPORT_S, "teams")
            return [
                (t, (topics.TEAM_STATUS, tm.team_id, self._team(tm, now, t))) for tm in self.teams
            ]
        if what.startswith("wake-"):
            self._schedule_arrival(what.removeprefix("wake-"), t)
            return []
        self._schedule_arrival(what, t)
        if what == "alarm":  # keyed by device, as a SCAIP receiver would (topics.py)
            alarm = self._alarm(now)
            return [(t, (topics.ALARMS, alarm.device_id, alarm))]
        if what == "transport":
            return [(t, (topics.TRANSPORTS, "", self._transport(now)))]
        return self._call(t)

    def _base(self, at: datetime) -> dict[str, object]:
        return {"event_id": self._id(), "occurred_at": at, "synthetic": True}

    def _device_event(
        self, d: Device, at: datetime, code: AlarmStatus, component: str, **extra: object
    ) -> SafetyAlarm:
        return SafetyAlarm.model_validate(
            {
                **self._base(at),
                "source": "sim-scaip",
                "controller_id": d.controller_id,
                "device_id": d.device_id,
                "device_type": d.device_type,
                "device_component": component,
                "status_code": code,
                "client": d.client,
                "municipality": d.municipality.code,
                "location": Location(lat=d.lat, lon=d.lon),
                **extra,
            }
        )

    def _heartbeat(self, d: Device, t: float) -> SafetyAlarm:
        at = self.start + timedelta(seconds=t)
        return self._device_event(d, at, AlarmStatus.HEARTBEAT, "base")

    def _alarm(self, now: datetime) -> SafetyAlarm:
        d = self.rng.choice(self.devices)
        code = self.rng.choices(
            [
                AlarmStatus.HELP_BUTTON,
                AlarmStatus.FALL_DETECTED,
                AlarmStatus.NO_ACTIVITY,
                AlarmStatus.DOOR_BED,
                AlarmStatus.SMOKE,
                AlarmStatus.LOW_BATTERY,
            ],
            weights=[60, 15, 8, 8, 1, 8],
        )[0]
        assessment = self.rng.choices(
            [
                None,
                OperatorAssessment.FALSE_ALARM,
                OperatorAssessment.NO_INJURY,
                OperatorAssessment.NEEDS_HELP,
                OperatorAssessment.ACUTE_ILLNESS,
                OperatorAssessment.MINOR_INJURY,
                OperatorAssessment.NO_ANSWER,
                OperatorAssessment.UNCONSCIOUS,
            ],
            weights=[10, 25, 20, 20, 8, 8, 8, 1],
        )[0]
        place = self.rng.choice(("kitchen", "bathroom", "bedroom"))
        return self._device_event(
            d,
            now,
            code,
            "button1",
            location=Location(place=place, lat=d.lat, lon=d.lon),
            client_flags=d.flags,
            age_band=d.age_band,
            operator_assessment=assessment,
        )

    def _transport(self, now: datetime) -> TransportRequest:
        d = self.rng.choice(self.devices)
        origin = self.rng.choices(list(PickupPlace), weights=[55, 35, 10])[0]
        return TransportRequest(
            **self._base(now),
            source="sim-transport",
            request_id=f"sim-tr-{self.rng.getrandbits(48):012x}",
            pickup_place_type=origin,
            pickup=Place(municipality=d.municipality.code, location=Location(lat=d.lat, lon=d.lon)),
            destination_type=self.rng.choices(
                [
                    Destination.EMERGENCY_DEPARTMENT,
                    Destination.HOSPITAL_WARD,
                    Destination.HEALTH_CENTRE,
                    Destination.HOME,
                ],
                weights=[60, 20, 15, 5],
            )[0],
            pickup_window=TimeWindow(earliest=now, latest=now + timedelta(hours=2)),
            condition_category=self.rng.choice(list(ConditionCategory)),
            mobility=self.rng.choices(list(Mobility), weights=[30, 40, 30])[0],
            requesting_unit=f"sim-unit-{d.municipality.code}",
            client=d.client,
            age_band=d.age_band,
            client_flags=d.flags,
        )

    def _call(self, t: float) -> list[tuple[float, Scheduled]]:
        d = self.rng.choice(self.devices)
        call_id = f"sim-call-{self.rng.getrandbits(48):012x}"
        urgency = self.rng.choices(list(Urgency), weights=[1, 3, 20, 40, 36])[0]
        disposition = self.rng.choices(list(Disposition), weights=[35, 25, 15, 12, 10, 3])[0]
        symptom = self.rng.choice(list(SymptomCategory))
        common = {
            "source": "sim-116117",
            "call_id": call_id,
            "municipality": d.municipality.code,
            "caller_age_band": d.age_band,
            "symptom_category": symptom,
        }
        triage_at = t + self.rng.uniform(120, 480)
        end_at = triage_at + self.rng.uniform(60, 300)
        phases: list[tuple[float, dict[str, object]]] = [
            (t, {"phase": CallPhase.STARTED}),
            (
                triage_at,
                {
                    "phase": CallPhase.TRIAGED,
                    "urgency": urgency,
                    "disposition": disposition,
                    "client": d.client,
                    "client_flags": d.flags,
                },
            ),
            (end_at, {"phase": CallPhase.ENDED}),
        ]
        out: list[tuple[float, Scheduled]] = []
        for at, fields in phases:
            base = self._base(self.start + timedelta(seconds=at))
            call = Call116117.model_validate({**base, **common, **fields})
            out.append((at, (topics.CALLS_116117, call_id, call)))
        return out

    def _team(self, tm: Team, now: datetime, t: float) -> TeamStatus:
        status = self.rng.choices(
            [TeamAvailability.AVAILABLE, TeamAvailability.BUSY, TeamAvailability.BREAK],
            weights=[70, 25, 5],
        )[0]
        if self.scenario.team_offline(tm.team_id, t):
            status = TeamAvailability.OFFLINE
        lat = tm.base.lat + self.rng.uniform(-0.05, 0.05)
        lon = tm.base.lon + self.rng.uniform(-0.1, 0.1)
        return TeamStatus(
            **self._base(now),
            source="sim-team-app",
            team_id=tm.team_id,
            team_type=tm.team_type,
            status=status,
            location=Location(lat=round(lat, 5), lon=round(lon, 5)),
            skills=tm.skills,
            capacity=tm.capacity,
            coverage=tm.coverage,
        )


async def run(
    bootstrap: str,
    region: Region,
    seed: int = 1,
    rate: float = 1.0,
    duration_s: float | None = None,
    time_scale: float = 1.0,
    respond: bool = True,
    scenario: Scenario | None = None,
) -> int:
    """Produce the simulation in real time (``time_scale`` > 1 runs faster); return the count.

    With ``respond``, the simulated teams also answer their offers (simulators/responders.py).
    """
    from aiokafka import AIOKafkaProducer

    from simulators.responders import Responders
    from streams.kafka_admin import wait_for_broker

    await wait_for_broker(bootstrap, timeout=60)
    sim = BasicSimulator(region, seed=seed, rate=rate, scenario=scenario)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent = 0
    responders = Responders(bootstrap, sim.teams, seed, time_scale)
    answering = asyncio.create_task(responders.run(producer, sim.start)) if respond else None
    try:
        while duration_s is None or (loop.time() - began) * time_scale < duration_s:
            horizon = (loop.time() - began) * time_scale
            for _, (topic, key, event) in sim.events_until(horizon):
                event = stamp(event, datetime.now(UTC))
                await producer.send(
                    topic,
                    key=key.encode() or None,
                    value=event.__pydantic_serializer__.to_json(event),
                )
                sent += 1
            await asyncio.sleep(0.1)
        await producer.flush()
    finally:
        if answering is not None:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await answering
        await producer.stop()
    log.info("simulator produced %d events and %d team actions", sent, responders.sent)
    return sent + responders.sent
