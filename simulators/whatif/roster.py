"""Rosters: which teams a region staffs, with which skills, where, when and for how much work.

A roster file is YAML, validated like a ruleset: every problem at once, each with file, line
and column; YAML tags, anchors and aliases are refused. One example per shipped region is in
``tike/data/rosters/``.

```yaml
roster: etela-pohjanmaa-default
region: etela-pohjanmaa
description: Who is on duty on an ordinary weekday.
extends: null                  # or a shipped roster name / a path: start from its teams
offer_timeouts_s: {stat: 60, asap: 120, urgent: 300, routine: 900}   # optional
remove: []                     # with extends: team ids to leave out
teams:
  - id: ep-mobile-doctor-1
    service: mobile_doctor     # the rules' services (team types)
    base: "743"                # a municipality code, or {lat: 62.79, lon: 22.84}
    coverage: {within_km: 120} # or a list of municipality codes
    skills: [physician, prescribing]
    capacity: 2                # tasks held at once (offered or accepted)
    shifts: ["08:00-16:00", "22:00-08:00"]   # local time; may wrap midnight; 00:00-24:00
    weekdays: [mon, tue, wed, thu, fri, sat, sun]   # the days a shift starts (default all)
```

A team with the same id as one of ``extends`` replaces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

import tike.data
from rules.loader import (
    PLAIN_TAGS,
    SKILL,
    TIME_RANGE,
    RuleError,
    RuleFileError,
    check_bounds,
)
from rules.vocabulary import Priority, Service
from tike.regions import Registry, distance_km

SHIPPED = Path(tike.data.__file__).resolve().parent / "rosters"
MAX_BYTES = 1 << 20
TEAM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SHIFT = TIME_RANGE
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RosterFileError(RuleFileError):
    """A roster was refused; ``errors`` holds every problem, each with line and column."""


@dataclass(frozen=True, slots=True)
class RosterError(RuleError):
    """One problem of a roster file; ``rule_id`` is the team's id when known."""

    def __str__(self) -> str:
        team = f" team {self.rule_id!r}:" if self.rule_id else ""
        return f"{self.origin}:{self.line}:{self.column}:{team} {self.message}"


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Within(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    within_km: float = Field(gt=0, le=2000)


class TeamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    service: Service
    base: str | Point
    coverage: tuple[str, ...] | Within
    skills: tuple[str, ...] = ()
    capacity: int = Field(1, ge=1, le=20)
    shifts: tuple[str, ...] = ("00:00-24:00",)
    weekdays: tuple[str, ...] = WEEKDAYS

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not TEAM_ID.match(v):
            raise ValueError("a team id is lower-case letters, digits, '-' and '_'")
        return v

    @field_validator("skills")
    @classmethod
    def _skills(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if not SKILL.match(s):
                raise ValueError(f"skill {s!r}: lower-case letters, digits and '_'")
        return v

    @field_validator("shifts")
    @classmethod
    def _shifts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            m = SHIFT.match(s)
            if not m:
                raise ValueError(f"shift {s!r} is not a local time range like 22:00-08:00")
            h1, m1, h2, m2 = (int(x) for x in m.groups())
            if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2) or s[:5] == s[6:]:
                raise ValueError(f"shift {s!r} is not a local time range like 22:00-08:00")
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"weekdays are {', '.join(WEEKDAYS)}; not {', '.join(bad)}")
        return v


class RosterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    roster: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    region: str
    description: str = ""
    extends: str | None = None
    remove: tuple[str, ...] = ()
    offer_timeouts_s: dict[Priority, float] = Field(default_factory=dict)
    teams: tuple[TeamSpec, ...] = ()

    @field_validator("offer_timeouts_s")
    @classmethod
    def _timeouts(cls, v: dict[Priority, float]) -> dict[Priority, float]:
        for k, s in v.items():
            if not 0 < s <= 86400:
                raise ValueError(f"offer time-out of {k.value} must be 1 s to a day")
        return v


@dataclass(frozen=True, slots=True)
class RosterTeam:
    """A team as the what-if uses it: coverage resolved to municipality codes."""

    team_id: str
    service: str
    region: str
    lat: float
    lon: float
    coverage: tuple[str, ...]
    skills: tuple[str, ...]
    capacity: int
    shifts: tuple[str, ...] = ("00:00-24:00",)
    weekdays: tuple[str, ...] = WEEKDAYS
    #: Absolute on-duty periods (a recorded roster); when set, shifts are not used.
    periods: tuple[tuple[datetime, datetime], ...] | None = None

    def duty(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The team's on-duty periods that overlap ``[start, end)``, merged, in UTC."""
        if self.periods is not None:
            spans = [(a, b) for a, b in self.periods if b > start and a < end]
        else:
            spans = []
            day = start.astimezone(tz).date() - timedelta(days=1)
            last = end.astimezone(tz).date()
            while day <= last:
                if WEEKDAYS[day.weekday()] in self.weekdays:
                    for s in self.shifts:
                        h1, m1, h2, m2 = (int(x) for x in SHIFT.match(s).groups())  # type: ignore[union-attr]
                        a = datetime(day.year, day.month, day.day, h1, m1, tzinfo=tz)
                        b_day = day if (h2, m2) > (h1, m1) else day + timedelta(days=1)
                        b = datetime(b_day.year, b_day.month, b_day.day, tzinfo=tz) + timedelta(
                            hours=h2, minutes=m2
                        )
                        if b > start and a < end:
                            spans.append((a, b))
                day += timedelta(days=1)
        merged: list[tuple[datetime, datetime]] = []
        for a, b in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged


@dataclass(frozen=True)
class Roster:
    name: str
    region: str
    teams: tuple[RosterTeam, ...]
    offer_timeouts_s: dict[str, float]
    origin: str = ""
    description: str = ""

    def with_team(self, team: RosterTeam, name: str | None = None) -> Roster:
        teams = (*(t for t in self.teams if t.team_id != team.team_id), team)
        return Roster(
            name or self.name,
            self.region,
            teams,
            dict(self.offer_timeouts_s),
            self.origin,
            self.description,
        )


# --- loading --------------------------------------------------------------------------------


def _plain(node: Node, marks: dict[tuple[Any, ...], Node], path: tuple[Any, ...]) -> Any:
    marks[path] = node
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = str(k.value)
            marks[(*path, key, "__key__")] = k
            out[key] = _plain(v, marks, (*path, key))
        return out
    if isinstance(node, SequenceNode):
        return [_plain(v, marks, (*path, i)) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: Node) -> Any:
    assert isinstance(node, ScalarNode)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node)
    finally:
        loader.dispose()


def _check(node: Node, origin: str) -> list[RuleError]:
    errors: list[RuleError] = []
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(node, 0)]
    while stack:
        n, depth = stack.pop()
        mark = n.start_mark
        if id(n) in seen:
            errors.append(
                RosterError(
                    origin, mark.line + 1, mark.column + 1, "anchors and aliases are not allowed"
                )
            )
            return errors
        seen.add(id(n))
        if n.tag not in PLAIN_TAGS:
            errors.append(
                RosterError(
                    origin, mark.line + 1, mark.column + 1, f"YAML tag {n.tag!r} is not allowed"
                )
            )
        if depth > 8:
            errors.append(RosterError(origin, mark.line + 1, mark.column + 1, "nesting too deep"))
            return errors
        if isinstance(n, MappingNode):
            stack.extend((x, depth + 1) for pair in n.value for x in pair)
        elif isinstance(n, SequenceNode):
            stack.extend((x, depth + 1) for x in n.value)
    return errors


def _locate(loc: tuple[Any, ...], marks: dict[tuple[Any, ...], Node]) -> Node | None:
    # pydantic adds union member names ("str", "Point", "tuple[str, ...]") to loc: drop
    # the parts that are not in the document.
    path: tuple[Any, ...] = ()
    best = marks.get(())
    for part in loc:
        if (*path, part) in marks:
            path = (*path, part)
            best = marks[path]
    if len(path) < len(loc) and (*path, loc[len(path)], "__key__") in marks:
        return marks[(*path, loc[len(path)], "__key__")]
    return best


def _team_of(loc: tuple[Any, ...], data: Any) -> str | None:
    if len(loc) >= 2 and loc[0] == "teams" and isinstance(loc[1], int):
        try:
            return str(data["teams"][loc[1]]["id"])
        except (KeyError, IndexError, TypeError):
            return None
    return None


def parse_spec(text: str, origin: str) -> RosterSpec:
    if len(text.encode()) > MAX_BYTES:
        raise RosterFileError([RosterError(origin, 1, 1, "a roster file is at most 1 MiB")])
    try:
        check_bounds(text, origin)  # before compose, which recurses once per level
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RuleFileError as exc:
        located: list[RuleError] = [
            RosterError(e.origin, e.line, e.column, e.message) for e in exc.errors
        ]
        raise RosterFileError(located) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RosterFileError([RosterError(origin, line, col, f"not valid YAML: {exc}")]) from None
    if root is None:
        raise RosterFileError([RosterError(origin, 1, 1, "the roster file is empty")])
    errors = _check(root, origin)
    if errors:
        raise RosterFileError(errors)
    marks: dict[tuple[Any, ...], Node] = {}
    data = _plain(root, marks, ())
    try:
        spec = RosterSpec.model_validate(data)
    except ValidationError as exc:
        out = []
        for e in exc.errors():
            key = marks.get((*e["loc"], "__key__")) if e["type"] == "extra_forbidden" else None
            node = key or _locate(tuple(e["loc"]), marks) or root
            where = ".".join(
                str(p) for p in e["loc"] if not str(p)[:1].isupper() and "[" not in str(p)
            )
            out.append(
                RosterError(
                    origin,
                    node.start_mark.line + 1,
                    node.start_mark.column + 1,
                    f"{where}: {e['msg']}",
                    _team_of(tuple(e["loc"]), data),
                )
            )
        # one error per place: union alternatives repeat the same problem
        uniq = {(r.line, r.column): r for r in reversed(out)}
        raise RosterFileError(sorted(uniq.values(), key=lambda r: (r.line, r.column))) from None
    return spec


def _resolve_team(t: TeamSpec, region: str, registry: Registry, origin: str) -> list[str]:
    """Problems with a team's municipalities (its base and coverage)."""
    problems = []
    munis = {m.code for m in registry.region(region).municipalities}
    if isinstance(t.base, str) and t.base not in munis:
        problems.append(f"base {t.base!r} is not a municipality of {region}")
    if not isinstance(t.coverage, Within):
        bad = [c for c in t.coverage if c not in munis]
        if bad:
            problems.append(f"coverage {', '.join(bad)}: not municipalities of {region}")
    return problems


def _node_of_team(text: str, index: int) -> tuple[int, int]:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    for k, v in root.value if isinstance(root, MappingNode) else ():
        if k.value == "teams" and isinstance(v, SequenceNode) and index < len(v.value):
            m = v.value[index].start_mark
            return m.line + 1, m.column + 1
    return 1, 1


def build(
    spec: RosterSpec,
    registry: Registry,
    origin: str = "",
    text: str | None = None,
    base_dir: Path | None = None,
    depth: int = 0,
) -> Roster:
    errors: list[RuleError] = []
    if spec.region not in registry.regions:
        errors.append(RosterError(origin, 1, 1, f"region {spec.region!r} is unknown"))
        raise RosterFileError(errors)
    region = registry.region(spec.region)
    inherited: dict[str, RosterTeam] = {}
    timeouts: dict[str, float] = {}
    if spec.extends:
        if depth > 4:
            raise RosterFileError([RosterError(origin, 1, 1, "extends nests too deep")])
        parent = load_roster(spec.extends, registry, base_dir, depth + 1)
        if parent.region != spec.region:
            raise RosterFileError(
                [
                    RosterError(
                        origin, 1, 1, f"extends {spec.extends!r} is a roster of {parent.region}"
                    )
                ]
            )
        inherited = {t.team_id: t for t in parent.teams}
        timeouts = dict(parent.offer_timeouts_s)
        for r in spec.remove:
            inherited.pop(r, None)
    seen: set[str] = set()
    teams: list[RosterTeam] = []
    for i, t in enumerate(spec.teams):
        problems = _resolve_team(t, spec.region, registry, origin)
        if t.id in seen:
            problems.append(f"team id {t.id!r} appears twice")
        seen.add(t.id)
        if problems:
            line, col = _node_of_team(text, i) if text else (1, 1)
            errors.extend(RosterError(origin, line, col, p, t.id) for p in problems)
            continue
        if isinstance(t.base, str):
            m = registry.municipality(t.base)
            assert m is not None
            lat, lon = m.lat, m.lon
        else:
            lat, lon = t.base.lat, t.base.lon
        if isinstance(t.coverage, Within):
            km = t.coverage.within_km
            coverage = tuple(
                m.code
                for m in sorted(
                    region.municipalities, key=lambda m: distance_km(lat, lon, m.lat, m.lon)
                )
                if distance_km(lat, lon, m.lat, m.lon) <= km
            )
        else:
            coverage = t.coverage
        inherited.pop(t.id, None)
        teams.append(
            RosterTeam(
                t.id,
                t.service.value,
                spec.region,
                lat,
                lon,
                coverage,
                tuple(t.skills),
                t.capacity,
                t.shifts,
                t.weekdays,
            )
        )
    if errors:
        raise RosterFileError(errors)
    timeouts.update({k.value: v for k, v in spec.offer_timeouts_s.items()})
    return Roster(
        spec.roster, spec.region, (*inherited.values(), *teams), timeouts, origin, spec.description
    )


def parse_roster(
    text: str, origin: str, registry: Registry, base_dir: Path | None = None, depth: int = 0
) -> Roster:
    return build(parse_spec(text, origin), registry, origin, text, base_dir, depth)


def load_roster(
    name_or_path: str | Path, registry: Registry, base_dir: Path | None = None, depth: int = 0
) -> Roster:
    """A roster file by path, or a shipped roster by name (``etela-pohjanmaa``)."""
    path = Path(name_or_path)
    if base_dir is not None and not path.is_absolute() and (base_dir / path).is_file():
        path = base_dir / path
    if not path.is_file():
        shipped = SHIPPED / f"{name_or_path}.yaml"
        if not shipped.is_file():
            raise RosterFileError(
                [RosterError(str(name_or_path), 1, 1, "no such roster file or shipped roster")]
            )
        path = shipped
    return parse_roster(path.read_text(encoding="utf-8"), str(path), registry, path.parent, depth)


def shipped_roster(region: str, registry: Registry) -> Roster:
    return load_roster(SHIPPED / f"{region}.yaml", registry)


# --- the roster as reported -----------------------------------------------------------------

OFF = frozenset({"off_duty", "offline"})


def recorded_roster(
    reports: list[tuple[datetime, dict[str, Any]]], end: datetime, registry: Registry
) -> Roster | None:
    """The roster as the teams reported it: each team's latest type, skills, coverage,
    capacity and position, on duty from a report not ``off_duty``/``offline`` until one that
    is (or the end). ``reports`` are (time, team status record) in time order."""
    by_team: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
    for at, r in reports:
        if r.get("team_id"):
            by_team.setdefault(str(r["team_id"]), []).append((at, r))
    if not by_team:
        return None
    teams = []
    region_ids: set[str] = set()
    for team_id, rs in sorted(by_team.items()):
        last = rs[-1][1]
        coverage = tuple(str(c) for c in last.get("coverage") or ())
        munis = [m for m in (registry.municipality(c) for c in coverage) if m is not None]
        if not munis:
            continue
        region_ids.add(munis[0].region)
        loc = last.get("location") or {}
        lat = float(loc["lat"]) if loc.get("lat") is not None else munis[0].lat
        lon = float(loc["lon"]) if loc.get("lon") is not None else munis[0].lon
        periods: list[tuple[datetime, datetime]] = []
        since: datetime | None = None
        for at, r in rs:
            on = str(r.get("status")) not in OFF
            if on and since is None:
                since = at
            elif not on and since is not None:
                periods.append((since, at))
                since = None
        if since is not None:
            periods.append((since, end))
        teams.append(
            RosterTeam(
                team_id,
                str(last.get("team_type")),
                munis[0].region,
                float(lat),
                float(lon),
                coverage,
                tuple(last.get("skills") or ()),
                int(last.get("capacity") or 1),
                periods=tuple(periods),
            )
        )
    if not teams:
        return None
    region = sorted(region_ids)[0]
    return Roster("recorded", region, tuple(teams), {}, "the recording's team reports")
