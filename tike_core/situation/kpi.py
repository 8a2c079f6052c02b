"""Situation KPIs per region and municipality over rolling 1 h and 24 h windows.

- needs by source and by service;
- resolved at home vs. sent to the ED or by ambulance, and the share resolved at home;
- avoided transports: transport requests that ended resolved at home;
- 116117 call volume;
- offer→accept and accept→on-site times (median, p90, in seconds);
- open and overdue needs now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
AT_HOME = "resolved_at_home"


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _durations(pairs: Iterable[tuple[str | None, str | None]], since: datetime) -> dict[str, Any]:
    vals = [
        (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
        for a, b in pairs
        if a and b and datetime.fromisoformat(b) >= since
    ]
    return {"median_s": _pct(vals, 0.5), "p90_s": _pct(vals, 0.9), "n": len(vals)}


def _window(needs: list[dict[str, Any]], calls: list[list[str]], since: datetime) -> dict[str, Any]:
    recent = [n for n in needs if datetime.fromisoformat(n["received_at"]) >= since]
    closed = [
        n for n in needs if n.get("closed_at") and datetime.fromisoformat(n["closed_at"]) >= since
    ]
    outcomes = Counter(str(n.get("outcome")) for n in closed)
    ambulance = sum(
        1
        for n in closed
        if n.get("outcome") == "ambulance" or n.get("service") == "ambulance_emergency"
    )
    decided = outcomes[AT_HOME] + outcomes["emergency_department"] + ambulance
    dispatches = [n.get("dispatch") or {} for n in needs]
    return {
        "needs": len(recent),
        "by_source": dict(Counter(n["source"] for n in recent)),
        "by_service": dict(Counter(n.get("service") or "control_room" for n in recent)),
        "closed": len(closed),
        "resolved_at_home": outcomes[AT_HOME],
        "sent_to_ed": outcomes["emergency_department"],
        "ambulance": ambulance,
        "share_at_home": round(outcomes[AT_HOME] / decided, 3) if decided else None,
        "avoided_transports": sum(
            1 for n in closed if n["source"] == "transport_request" and n.get("outcome") == AT_HOME
        ),
        "calls_116117": sum(1 for c in calls if datetime.fromisoformat(c[0]) >= since),
        "offer_to_accept": _durations(
            ((d.get("offered_at"), d.get("accepted_at")) for d in dispatches), since
        ),
        "accept_to_on_site": _durations(
            ((d.get("accepted_at"), d.get("on_site_at")) for d in dispatches), since
        ),
    }


def compute_kpis(
    state: dict[str, Any], now: datetime, include_synthetic: bool = True
) -> dict[str, dict[str, Any]]:
    """KPIs keyed by region id and by ``region:municipality``."""
    needs = [n for n in state["needs"].values() if include_synthetic or not n.get("synthetic")]
    calls = [c for c in state["calls"] if include_synthetic or c[3] == "0"]
    groups: dict[str, tuple[list[dict[str, Any]], list[list[str]]]] = {}
    for n in needs:
        for key in (n["region"], f"{n['region']}:{n['municipality']}"):
            groups.setdefault(key, ([], []))[0].append(n)
    for c in calls:
        for key in (c[2], f"{c[2]}:{c[1]}"):
            groups.setdefault(key, ([], []))[1].append(c)
    out = {}
    for key, (group_needs, group_calls) in groups.items():
        entry: dict[str, Any] = {
            name: _window(group_needs, group_calls, now - span) for name, span in WINDOWS.items()
        }
        entry["open"] = sum(1 for n in group_needs if n["status"] == "open")
        entry["overdue"] = sum(1 for n in group_needs if n["status"] == "open" and n["overdue"])
        out[key] = entry
    return out
