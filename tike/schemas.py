"""JSON Schemas generated from the contract models (``docs/schemas/*.json``)."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel

from tike.events import KINDS
from tike.outputs import SITUATION_OUTPUTS
from tike.records import (
    CallActivity,
    DeadLetter,
    DeviceHealth,
    TeamState,
    UnplannedNeed,
)

OUTPUTS: dict[str, type[BaseModel]] = {
    "unplanned_need": UnplannedNeed,
    "call_activity": CallActivity,
    "team_state": TeamState,
    "device_health": DeviceHealth,
    "dead_letter": DeadLetter,
    **SITUATION_OUTPUTS,
}


def all_schemas() -> dict[str, bytes]:
    """File name -> schema bytes, deterministic (sorted keys, trailing newline)."""
    out = {}
    for name, model in {**KINDS, **OUTPUTS}.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://tike.invalid/schemas/{name}.json"
        out[f"{name}.json"] = (
            orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
    return out


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in all_schemas().items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written
