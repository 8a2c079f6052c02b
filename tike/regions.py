"""Regions (wellbeing services counties) and their municipalities, loaded from YAML data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tike.events import entity_id


class RegionDataError(ValueError):
    """A region file is malformed."""


@dataclass(frozen=True, slots=True)
class Municipality:
    code: str
    name_fi: str
    name_sv: str
    population: int
    lat: float
    lon: float
    region: str


@dataclass(frozen=True, slots=True)
class Region:
    id: str
    names: dict[str, str]
    timezone: str
    municipalities: tuple[Municipality, ...]

    @property
    def population(self) -> int:
        return sum(m.population for m in self.municipalities)


@dataclass(frozen=True, slots=True, eq=False)
class Registry:
    regions: dict[str, Region]
    municipalities: dict[str, Municipality]

    def municipality(self, code: str) -> Municipality | None:
        return self.municipalities.get(code)

    def region(self, region_id: str) -> Region:
        return self.regions[region_id]


def _parse(data: Any, origin: str) -> Region:
    if not isinstance(data, dict):
        raise RegionDataError(f"{origin}: expected a mapping at top level")
    try:
        rid = entity_id(str(data["id"]), "region id")
        munis = tuple(
            Municipality(
                code=str(m["code"]),
                name_fi=str(m["fi"]),
                name_sv=str(m.get("sv", m["fi"])),
                population=int(m["population"]),
                lat=float(m["lat"]),
                lon=float(m["lon"]),
                region=rid,
            )
            for m in data["municipalities"]
        )
        return Region(
            id=rid,
            names={k: str(v) for k, v in dict(data["name"]).items()},
            timezone=str(data.get("timezone", "Europe/Helsinki")),
            municipalities=munis,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RegionDataError(f"{origin}: {exc!r}") from exc


def build_registry(texts: list[tuple[str, str]]) -> Registry:
    """Build a registry from (origin, yaml text) pairs; a municipality code may appear once."""
    regions: dict[str, Region] = {}
    munis: dict[str, Municipality] = {}
    for origin, text in texts:
        region = _parse(yaml.safe_load(text), origin)
        if region.id in regions:
            raise RegionDataError(f"{origin}: region {region.id!r} is defined twice")
        regions[region.id] = region
        for m in region.municipalities:
            if m.code in munis:
                raise RegionDataError(f"{origin}: municipality {m.code} is in two regions")
            munis[m.code] = m
    return Registry(regions=regions, municipalities=munis)


@lru_cache(maxsize=8)
def load_registry(extra_dir: Path | None = None) -> Registry:
    """The shipped regions plus any ``*.yaml`` in ``extra_dir`` (TIKE_REGIONS_DIR)."""
    texts = []
    shipped = resources.files("tike.data").joinpath("regions")
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            texts.append((f"tike/data/regions/{entry.name}", entry.read_text("utf-8")))
    if extra_dir is not None:
        for path in sorted(Path(extra_dir).glob("*.yaml")):
            texts.append((str(path), path.read_text("utf-8")))
    return build_registry(texts)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
