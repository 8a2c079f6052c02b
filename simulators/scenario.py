"""Simulation scenarios as YAML: rate multipliers per phase, waves of silent devices, teams
going offline. Shipped scenarios are in ``simulators/scenarios/``; any file path works too.

```yaml
name: storm
description: Autumn storm; power out in the east for three hours.
local_hour: 18            # where on the diurnal curve the scenario starts (optional)
time_scale: 10            # scenario seconds per real second, unless --time-scale is given
device_share: 0.2         # simulate this share of the region's safety devices (heartbeats)
phases:
  - {from_min: 0, to_min: 180, alarm: 4.0, call: 2.0, silent_devices: 0.2}
  - {from_min: 30, offline_teams: [sim-home-care-1]}
```
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

KINDS = ("alarm", "call", "transport")

#: The scenario `tike up --simulate` plays unless told otherwise (simulators/scenarios/).
DEMO = "demo"
#: Not a scenario: the region's realistic rates on the real clock.
REALISTIC = "realistic"

#: Named rate multipliers: one region; all of Finland (about 25 times South Ostrobothnia's
#: population); and a stress load ten times the nationwide one.
RATE_PRESETS = {"regional": 1.0, "nationwide": 25.0, "stress": 250.0}


def parse_rate(text: str) -> float:
    """A rate multiplier: a positive number or a preset name (``nationwide``)."""
    if text in RATE_PRESETS:
        return RATE_PRESETS[text]
    try:
        rate = float(text)
    except ValueError:
        names = ", ".join(RATE_PRESETS)
        raise ValueError(f"rate must be a positive number or one of {names}: {text!r}") from None
    if not rate > 0:
        raise ValueError(f"rate must be positive: {text!r}")
    return rate


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_min: float = Field(0, ge=0)
    to_min: float | None = Field(None, gt=0, description="Open-ended when empty.")
    alarm: float = Field(1.0, ge=0, le=1000)
    call: float = Field(1.0, ge=0, le=1000)
    transport: float = Field(1.0, ge=0, le=1000)
    silent_devices: float = Field(0.0, ge=0, le=1, description="Share of devices gone silent.")
    offline_teams: tuple[str, ...] = ()

    def active(self, t_s: float) -> bool:
        return self.from_min * 60 <= t_s and (self.to_min is None or t_s < self.to_min * 60)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    local_hour: float | None = Field(None, ge=0, lt=24)
    time_scale: float | None = Field(
        None, gt=0, le=3600, description="Scenario seconds per real second (a compressed clock)."
    )
    device_share: float = Field(
        1.0, gt=0, le=1, description="Share of the region's safety devices simulated."
    )
    phases: tuple[Phase, ...] = ()

    def multiplier(self, kind: str, t_s: float) -> float:
        out = 1.0
        for phase in self.phases:
            if phase.active(t_s):
                out *= getattr(phase, kind)
        return out

    def device_silent(self, device_id: str, t_s: float) -> bool:
        """Deterministic: a device's place in the silent share never changes."""
        share = max((p.silent_devices for p in self.phases if p.active(t_s)), default=0.0)
        if share <= 0:
            return False
        digest = hashlib.blake2b(device_id.encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") / 2**32 < share

    def team_offline(self, team_id: str, t_s: float) -> bool:
        return any(team_id in p.offline_teams for p in self.phases if p.active(t_s))


def shipped() -> list[str]:
    folder = resources.files("simulators") / "scenarios"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def scenario_for(name_or_path: str | None) -> Scenario | None:
    """What to simulate: None (the region's realistic rates on the real clock) for
    ``realistic`` or nothing, else :func:`load_scenario`."""
    if not name_or_path or name_or_path == REALISTIC:
        return None
    return load_scenario(name_or_path)


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a YAML file by path. Raises ValueError with the reason."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        item = resources.files("simulators") / "scenarios" / f"{name_or_path}.yaml"
        if not item.is_file():
            known = ", ".join([*shipped(), REALISTIC])
            raise ValueError(f"unknown scenario {name_or_path!r}; known: {known}")
        text = item.read_text(encoding="utf-8")
    try:
        return Scenario.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"scenario {name_or_path}: {exc}") from exc
