"""A simulated region: safety devices, their clients, and mobile teams. Deterministic by seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tike import pii
from tike.events import AgeBand, ClientFlag, DeviceType, TeamType
from tike.regions import Municipality, Region, distance_km

#: Safety phones per inhabitant (about 52k users in Finland, 1 per 100 inhabitants).
DEVICES_PER_INHABITANT = 0.01
PLACES = ("kitchen", "bathroom", "bedroom", "hallway", "living_room", "yard")

#: Team types, how many per 100k inhabitants, their coverage radius (km) and skills.
TEAM_PLAN: tuple[tuple[TeamType, float, float, tuple[str, ...]], ...] = (
    (TeamType.HOME_HOSPITAL, 2.0, 60, ("iv_therapy", "palliative", "lab_sampling")),
    (TeamType.MOBILE_DOCTOR, 1.0, 120, ("physician", "prescribing", "death_certificate")),
    (TeamType.MOBILE_NURSE, 3.0, 50, ("wound_care", "iv_therapy", "assessment")),
    (TeamType.HOME_CARE, 8.0, 25, ("lifting", "medication", "hygiene")),
    (TeamType.SAFETY_RESPONDER, 3.0, 40, ("lifting", "assessment")),
    (TeamType.SOCIAL_ON_CALL, 1.0, 150, ("crisis_work", "child_protection")),
    (TeamType.PHONE_ADVICE, 1.0, 400, ("telehealth",)),
)


def pseudonym(rng: random.Random) -> str:
    """A client pseudonym; never one that reads as a personal identity code (about one in
    150,000 random ones would, and Tike dead-letters every event that carries one)."""
    while True:
        candidate = f"simc{rng.getrandbits(40):010x}"
        if not pii.contains_code(candidate):
            return candidate


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    controller_id: str
    device_type: DeviceType
    municipality: Municipality
    client: str
    age_band: AgeBand
    flags: frozenset[ClientFlag]
    lat: float
    lon: float
    #: Seconds into each heartbeat period at which this device reports.
    phase_s: float


@dataclass(frozen=True, slots=True)
class Team:
    team_id: str
    team_type: TeamType
    base: Municipality
    coverage: tuple[str, ...]
    skills: frozenset[str]
    capacity: int


def _weighted_municipality(rng: random.Random, region: Region) -> Municipality:
    munis = region.municipalities
    return rng.choices(munis, weights=[m.population for m in munis])[0]


def _jitter(rng: random.Random, m: Municipality, km: float = 6.0) -> tuple[float, float]:
    return (
        round(m.lat + rng.uniform(-km, km) / 111.0, 5),
        round(m.lon + rng.uniform(-km, km) / 52.0, 5),
    )


def make_devices(
    rng: random.Random, region: Region, heartbeat_s: float, scale: float = 1.0
) -> list[Device]:
    count = max(1, int(region.population * DEVICES_PER_INHABITANT * scale))
    devices = []
    for i in range(count):
        m = _weighted_municipality(rng, region)
        lat, lon = _jitter(rng, m)
        flags = {ClientFlag.HOME_CARE} if rng.random() < 0.7 else set()
        if rng.random() < 0.05:
            flags.add(ClientFlag.HOME_HOSPITAL)
        if rng.random() < 0.03:
            flags.add(ClientFlag.PALLIATIVE)
        if rng.random() < 0.55:
            flags.add(ClientFlag.LIVES_ALONE)
        if rng.random() < 0.25:
            flags.add(ClientFlag.MEMORY_DISORDER)
        devices.append(
            Device(
                device_id=f"sim-dev-{m.code}-{i:05d}",
                controller_id=f"sim-ctrl-{m.code}-{i:05d}",
                device_type=rng.choices(
                    [DeviceType.PENDANT, DeviceType.FALL_SENSOR, DeviceType.BED, DeviceType.DOOR],
                    weights=[70, 15, 10, 5],
                )[0],
                municipality=m,
                client=pseudonym(rng),
                age_band=rng.choices(
                    [AgeBand.ADULT, AgeBand.OLD_65, AgeBand.OLD_75, AgeBand.OLD_85],
                    weights=[8, 17, 35, 40],
                )[0],
                flags=frozenset(flags),
                lat=lat,
                lon=lon,
                phase_s=rng.uniform(0, heartbeat_s),
            )
        )
    return devices


def make_teams(rng: random.Random, region: Region) -> list[Team]:
    teams = []
    munis = sorted(region.municipalities, key=lambda m: -m.population)
    for team_type, per_100k, radius, skills in TEAM_PLAN:
        count = max(1, round(region.population / 100_000 * per_100k))
        for i in range(count):
            base = munis[i % len(munis)]
            coverage = tuple(
                m.code
                for m in sorted(munis, key=lambda m: distance_km(base.lat, base.lon, m.lat, m.lon))
                if distance_km(base.lat, base.lon, m.lat, m.lon) <= radius
            )
            teams.append(
                Team(
                    team_id=f"sim-{team_type.value.replace('_', '-')}-{i + 1}",
                    team_type=team_type,
                    base=base,
                    coverage=coverage,
                    skills=frozenset(rng.sample(skills, k=max(1, len(skills) - 1))),
                    capacity=2 if team_type is TeamType.PHONE_ADVICE else 1,
                )
            )
    return teams
