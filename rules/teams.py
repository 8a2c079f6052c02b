"""Team selection: among the teams of a service that cover the need's municipality and are on
duty, the one that can be there soonest, with the skills, and the least load.

Every team of the service is listed with why it won or lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tike.regions import Registry, distance_km

ROAD_FACTOR = 1.3  # road distance over great-circle distance, rural Finland
SPEED_KMH = 60.0
BUSY_PENALTY_MIN = 30.0  # a team reporting busy can still take work, but later
LOAD_PENALTY_MIN = 15.0  # per task the team already holds
OFF_DUTY = {"off_duty": "off duty", "offline": "offline", "break": "on a break"}
#: Why a team was or was not chosen, as codes (the UI labels each in every language).
CANDIDATE_CODES = (
    "off_duty",
    "offline",
    "break",
    "outside_shift",
    "not_covering",
    "lacks_skills",
    "at_capacity",
    "eligible",
    "won",
    "lost",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    team_id: str
    service: str
    eligible: bool
    reason: str
    eta_minutes: float | None = None
    load: int = 0
    score: float | None = None
    #: The reason as a code from CANDIDATE_CODES and its values, for the UI's own words.
    code: str = "eligible"
    params: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "service": self.service,
            "eligible": self.eligible,
            "reason": self.reason,
            "code": self.code,
            "params": dict(self.params),
            "eta_minutes": self.eta_minutes,
            "load": self.load,
        }


def _point(
    loc: Mapping[str, Any] | None, fallback_muni: str | None, registry: Registry
) -> tuple[float, float] | None:
    if loc and loc.get("lat") is not None and loc.get("lon") is not None:
        return float(loc["lat"]), float(loc["lon"])
    muni = registry.municipality(fallback_muni) if fallback_muni else None
    return (muni.lat, muni.lon) if muni else None


def eta_minutes(
    team: Mapping[str, Any], need: Mapping[str, Any], registry: Registry
) -> float | None:
    coverage = team.get("coverage") or ()
    a = _point(team.get("location"), coverage[0] if coverage else None, registry)
    b = _point(need.get("location"), need.get("municipality"), registry)
    if a is None or b is None:
        return None
    return round(distance_km(*a, *b) * ROAD_FACTOR / SPEED_KMH * 60, 1)


def _on_shift(team: Mapping[str, Any], now: datetime) -> bool:
    shift = team.get("shift")
    if not shift:
        return True
    start, end = (
        v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
        for v in (shift["start"], shift["end"])
    )
    return start <= now < end


def assess(
    team: Mapping[str, Any],
    need: Mapping[str, Any],
    skills: Iterable[str],
    now: datetime,
    load: int,
    registry: Registry,
) -> Candidate:
    team_id, service = str(team["team_id"]), str(team["team_type"])

    def lost(code: str, reason: str, **params: str) -> Candidate:
        return Candidate(
            team_id, service, False, reason, load=load, code=code, params=tuple(params.items())
        )

    status = str(team.get("status"))
    if status in OFF_DUTY:
        return lost(status, OFF_DUTY[status])
    if not _on_shift(team, now):
        return lost("outside_shift", "outside its shift")
    municipality = str(need.get("municipality"))
    if municipality not in (team.get("coverage") or ()):
        return lost(
            "not_covering", f"does not cover municipality {municipality}", municipality=municipality
        )
    missing = sorted(set(skills) - set(team.get("skills") or ()))
    if missing:
        return lost("lacks_skills", f"lacks skills: {', '.join(missing)}", skills=",".join(missing))
    capacity = int(team.get("capacity", 1))
    if load >= capacity:
        return lost(
            "at_capacity",
            f"at capacity ({load}/{capacity} tasks)",
            load=str(load),
            capacity=str(capacity),
        )
    eta = eta_minutes(team, need, registry)
    score = (eta if eta is not None else 60.0) + LOAD_PENALTY_MIN * load
    if status != "available":
        score += BUSY_PENALTY_MIN
    return Candidate(team_id, service, True, "eligible", eta, load, round(score, 1))


def select_team(
    service: str,
    need: Mapping[str, Any],
    teams: Iterable[Mapping[str, Any]],
    skills: Iterable[str],
    now: datetime,
    loads: Mapping[str, int],
    registry: Registry,
) -> tuple[Candidate | None, list[Candidate]]:
    """The winning team of ``service`` (or None) and every candidate with its reason."""
    skills = tuple(skills)
    candidates = [
        assess(t, need, skills, now, loads.get(str(t["team_id"]), 0), registry)
        for t in teams
        if t.get("team_type") == service
    ]
    eligible = sorted(
        (c for c in candidates if c.eligible), key=lambda c: (c.score or 0.0, c.team_id)
    )
    if not eligible:
        return None, candidates
    best = eligible[0]
    explained = []
    for c in candidates:
        if not c.eligible:
            explained.append(c)
        elif c is best:
            reason = f"won: lowest score {c.score} (ETA {c.eta_minutes} min, load {c.load})"
            explained.append(_with_reason(c, reason, "won", score=str(c.score)))
        else:
            reason = f"lost: score {c.score} vs {best.score} of {best.team_id}"
            explained.append(
                _with_reason(
                    c, reason, "lost", score=str(c.score), best=str(best.score), winner=best.team_id
                )
            )
    winner = next(c for c in explained if c.team_id == best.team_id)
    return winner, explained


def _with_reason(c: Candidate, reason: str, code: str, **params: str) -> Candidate:
    return Candidate(
        c.team_id,
        c.service,
        c.eligible,
        reason,
        c.eta_minutes,
        c.load,
        c.score,
        code,
        tuple(params.items()),
    )
