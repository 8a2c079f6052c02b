"""Simulated mobile teams that answer their dispatch offers like people do.

A team acknowledges an offer after a few seconds, accepts it after a human delay or
sometimes declines, sets off, drives at road speed to the client, stays for the visit, and
completes it with a realistic outcome. Only simulated teams (ids starting ``sim-``) are
played: the simulator never acts for a real team. Deterministic for a seed: the plan of a
dispatch depends only on the seed and the dispatch id.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.population import Team
from tike import topics
from tike.events import Location, TeamEvent
from tike.regions import distance_km

log = logging.getLogger(__name__)

SIM_PREFIX = "sim-"
ROAD_FACTOR = 1.3  # road distance over straight-line distance
OUTCOMES = (
    ("resolved_at_home", 0.80),
    ("urgent_clinic", 0.08),
    ("emergency_department", 0.07),
    ("ambulance", 0.05),
)


@dataclass(frozen=True)
class Behaviour:
    decline_p: float = 0.08
    received_s: tuple[float, float] = (2, 8)
    accept_s: tuple[float, float] = (10, 75)
    depart_s: tuple[float, float] = (30, 120)
    speed_kmh: float = 60.0
    visit_s: tuple[float, float] = (15 * 60, 45 * 60)
    #: A team that is already busy with another task (a what-if knows; the live simulator
    #: does not and never passes ``busy``) reads a new offer later and declines it more often.
    busy_accept_s: tuple[float, float] = (90, 900)
    busy_decline_p: float = 0.25


@dataclass(frozen=True)
class Step:
    after_s: float  # seconds after the offer
    action: str
    outcome: str | None = None
    reason: str | None = None


def plan(
    dispatch: dict[str, Any],
    team_base: tuple[float, float] | None,
    seed: int,
    behaviour: Behaviour = Behaviour(),
    busy: bool = False,
) -> list[Step]:
    """What the team will do with this offer, and when (pure and deterministic).

    ``busy``: the team holds another accepted task. The random draws are the same either way
    (only the ranges they fall in change), so a what-if's two runs answer the same offer alike
    where the team's situation is alike."""
    digest = hashlib.blake2b(f"{seed}:{dispatch['dispatch_id']}".encode(), digest_size=8)
    rng = random.Random(int.from_bytes(digest.digest(), "big"))
    b = behaviour
    t = rng.uniform(*b.received_s)
    steps = [Step(t, "received")]
    t += rng.uniform(*(b.busy_accept_s if busy else b.accept_s))
    if rng.random() < (b.busy_decline_p if busy else b.decline_p):
        return [*steps, Step(t, "decline", reason="busy with another client")]
    steps.append(Step(t, "accept"))
    t += rng.uniform(*b.depart_s)
    steps.append(Step(t, "en_route"))
    loc = (dispatch.get("need") or {}).get("location") or {}
    if team_base and loc.get("lat") is not None and loc.get("lon") is not None:
        km = distance_km(team_base[0], team_base[1], loc["lat"], loc["lon"]) * ROAD_FACTOR
    else:
        km = rng.uniform(3, 30)
    t += max(km, 0.5) / b.speed_kmh * 3600
    steps.append(Step(t, "on_site"))
    t += rng.uniform(*b.visit_s)
    outcome = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
    steps.append(Step(t, "complete", outcome=outcome))
    return steps


def team_event(dispatch: dict[str, Any], step: Step, at: datetime) -> TeamEvent:
    return TeamEvent(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dispatch['dispatch_id']}/{step.action}")),
        occurred_at=at,
        source="tike-simulator",
        synthetic=True,
        team_id=dispatch["team_id"],
        dispatch_id=dispatch["dispatch_id"],
        region=dispatch["region"],
        action=step.action,
        outcome=step.outcome,
        reason=step.reason,
        location=Location(),
    )


class Responders:
    """Reads ``tike.dispatches`` and plays the simulated teams' answers in real time."""

    def __init__(
        self,
        bootstrap: str,
        teams: list[Team],
        seed: int,
        time_scale: float = 1.0,
        behaviour: Behaviour = Behaviour(),
    ) -> None:
        self.bootstrap, self.seed, self.time_scale = bootstrap, seed, time_scale
        self.behaviour = behaviour
        self.bases = {t.team_id: (t.base.lat, t.base.lon) for t in teams}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.sent = 0

    async def run(self, producer: Any, started: datetime) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            topics.DISPATCHES,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        try:
            async for msg in consumer:
                self.on_record(msg.value, producer, started)
        finally:
            await consumer.stop()
            for task in self.tasks.values():
                task.cancel()

    def on_record(self, raw: bytes | None, producer: Any, started: datetime) -> None:
        import orjson

        try:
            d = orjson.loads(raw or b"null")
        except orjson.JSONDecodeError:
            return
        if not isinstance(d, dict) or d.get("kind") != "dispatch":
            return
        if not str(d.get("team_id", "")).startswith(SIM_PREFIX):
            return  # never act for a real team
        key = d["dispatch_id"]
        if d["status"] == "requested" and key not in self.tasks:
            if datetime.fromisoformat(d["offered_at"]) < started - timedelta(minutes=1):
                return  # an offer from before this simulator started
            steps = plan(d, self.bases.get(d["team_id"]), self.seed, self.behaviour)
            self.tasks[key] = asyncio.create_task(self._play(d, steps, producer))
        elif d["status"] in ("rejected", "cancelled", "failed", "completed"):
            task = self.tasks.get(key)
            if task is not None and d["status"] != "completed":
                task.cancel()  # the offer expired or was reassigned: stop playing it

    async def _play(self, dispatch: dict[str, Any], steps: list[Step], producer: Any) -> None:
        elapsed = 0.0
        for step in steps:
            await asyncio.sleep(max(0.0, (step.after_s - elapsed) / self.time_scale))
            elapsed = step.after_s
            event = team_event(dispatch, step, datetime.now(UTC))
            await producer.send(
                topics.TEAM_EVENTS,
                key=dispatch["team_id"].encode(),
                value=event.model_dump_json().encode(),
            )
            self.sent += 1
