from __future__ import annotations

from pathlib import Path

import pytest

from simulators.whatif.inputs import (
    Prepared,
    prepare,
    read_recording,
    simulated_day,
    write_recording,
)
from tike.regions import Registry, load_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="session")
def recorded_day(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    """A day of the seeded simulator's regional traffic (alarms, transports and 116117 calls
    at the region's rates, team reports, and the heartbeats of 2 % of the devices), recorded
    on the fly in ``tike record``'s format."""
    region = registry.region("etela-pohjanmaa")
    path = tmp_path_factory.mktemp("whatif") / "day.jsonl"
    write_recording(simulated_day(region, seed=7, hours=24, device_share=0.02), path)
    return path


@pytest.fixture(scope="session")
def day(recorded_day: Path, registry: Registry) -> Prepared:
    return prepare(read_recording(recorded_day), registry)
