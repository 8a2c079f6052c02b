"""Safety-device supervision: heartbeats, battery and faults, and devices that fall silent.

Pure functions over a JSON-friendly state dict (the worker keeps it in a Faust table keyed by
device id). A device that misses its heartbeats is reported once per silence, as a
``device_silent`` need; a heartbeat after that clears the silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tike import topics
from tike.events import AlarmStatus
from tike.records import (
    DeviceCondition,
    DeviceHealth,
    DeviceObservation,
    NeedSource,
    Origin,
    UnplannedNeed,
    stable_id,
)
from tike_core.normalise import Emit

State = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Supervision:
    state: State
    emits: list[Emit]


def _condition(state: State) -> DeviceCondition:
    if state.get("silent_since"):
        return DeviceCondition.SILENT
    if state.get("fault"):
        return DeviceCondition.FAULT
    if state.get("low_battery"):
        return DeviceCondition.LOW_BATTERY
    return DeviceCondition.OK


def _health(state: State) -> DeviceHealth:
    silent = state.get("silent_since")
    return DeviceHealth(
        device_id=state["device_id"],
        controller_id=state["controller_id"],
        region=state["region"],
        municipality=state["municipality"],
        condition=_condition(state),
        last_seen=datetime.fromisoformat(state["last_seen"]),
        low_battery=bool(state.get("low_battery")),
        fault=bool(state.get("fault")),
        silent_since=datetime.fromisoformat(silent) if silent else None,
        client=state.get("client"),
        synthetic=bool(state.get("synthetic")),
    )


def is_overdue(state: State, now: datetime, timeout: timedelta) -> bool:
    """True when the device has been silent past ``timeout`` and is not yet reported."""
    if state.get("silent_since"):
        return False
    return now - datetime.fromisoformat(state["last_seen"]) >= timeout


def silence_check(state: State, now: datetime) -> DeviceObservation:
    """The observation the supervision timer sends (keyed by device) for an overdue device."""
    return DeviceObservation(
        device_id=state["device_id"],
        controller_id=state["controller_id"],
        observed="silence_check",
        observed_at=now,
        region=state["region"],
        municipality=state["municipality"],
        client=state.get("client"),
        synthetic=bool(state.get("synthetic")),
    )


def _silent_need(state: State, obs: DeviceObservation, timeout: timedelta) -> UnplannedNeed:
    last_seen = state["last_seen"]
    return UnplannedNeed(
        need_id=stable_id("need", "silent", state["device_id"], last_seen),
        region=state["region"],
        municipality=state["municipality"],
        source=NeedSource.DEVICE_SUPERVISION,
        occurred_at=datetime.fromisoformat(last_seen) + timeout,
        received_at=obs.observed_at,
        origin=Origin(event_id=f"silence:{state['device_id']}:{last_seen}", topic=obs.kind),
        synthetic=bool(state.get("synthetic")),
        client=state.get("client"),
        age_band=state.get("age_band"),
        client_flags=frozenset(state.get("client_flags", ())),
        device_id=state["device_id"],
        device_type=state.get("device_type"),
        alarm_code="device_silent",
    )


def worth_writing(
    before: State | None, after: State, written: State | None, every: timedelta
) -> bool:
    """Whether a new state goes to the changelog: anything but ``last_seen`` changed, or
    ``last_seen`` moved ``every`` or more past the value last written. A device's heartbeats
    and repeated alarms then cost one write per ``every``, not one each. After a rebuild a
    device's ``last_seen`` can be up to ``every`` old, so a device that really fell silent
    around the rebuild is reported up to ``every`` early (docs/dispatch.md)."""
    if before is None or written is None or not after:
        return bool(after)
    changed = len(after) != len(before)
    if changed or any(after.get(k) != v for k, v in before.items() if k != "last_seen"):
        return True
    seen = datetime.fromisoformat(after["last_seen"])
    return seen - datetime.fromisoformat(written["last_seen"]) >= every


def observe(
    state: State | None, obs: DeviceObservation, now: datetime, timeout: timedelta
) -> Supervision:
    """Apply one observation; return the new state and what to emit."""
    if obs.observed == "silence_check":
        if state is None or not is_overdue(state, now, timeout):
            return Supervision(state or {}, [])  # a heartbeat arrived meanwhile
        new = {**state, "silent_since": now.isoformat()}
        need = _silent_need(state, obs, timeout)
        return Supervision(
            new,
            [
                Emit(topics.DEVICE_HEALTH, obs.device_id, _health(new)),
                Emit(topics.INTAKE, new["region"], need),
            ],
        )
    new = dict(state) if state else {}
    before = _condition(new) if state else None
    previous_seen = datetime.fromisoformat(new["last_seen"]) if state else None
    seen = obs.observed_at if previous_seen is None else max(previous_seen, obs.observed_at)
    new.update(
        device_id=obs.device_id,
        controller_id=obs.controller_id,
        region=obs.region,
        municipality=obs.municipality,
        last_seen=seen.isoformat(),
        synthetic=obs.synthetic,
    )
    for key in ("client", "device_type", "age_band"):
        value = getattr(obs, key)
        if value is not None:
            new[key] = str(value)
    if obs.client_flags:
        new["client_flags"] = sorted(obs.client_flags)
    # Any sign of life ends a silence.
    new.pop("silent_since", None)
    if obs.observed == AlarmStatus.LOW_BATTERY:
        new["low_battery"] = True
    elif obs.observed == AlarmStatus.TECHNICAL_FAULT:
        new["fault"] = True
    elif obs.observed == AlarmStatus.HEARTBEAT:
        # A SCAIP heartbeat is the device's periodic self-test: it reports a working device.
        new["low_battery"] = False
        new["fault"] = False
    emits = []
    if _condition(new) != before:
        emits.append(Emit(topics.DEVICE_HEALTH, obs.device_id, _health(new)))
    return Supervision(new, emits)
