"""REST API: the board and its parts, team dispatches and actions, control-room actions,
device health, the audit log and token administration."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from gateway.auth import ROLES, issue, valid_role, verify
from gateway.commands import CommandError, origin_of
from gateway.deps import (
    Admin,
    CommandsDep,
    ControlRoom,
    RegistryDep,
    SettingsDep,
    StoreDep,
    Watcher,
    Who,
)
from gateway.store import board_key, team_key
from tike.events import ENTITY_ID_PATTERN, Outcome

router = APIRouter(prefix="/api")
#: What a 202 to a control-room action says: the worker has yet to carry it out, or refuse it.
ACCEPTED = "accepted for processing; a refusal comes on the board as a notice"
#: Team, need and dispatch ids in paths follow the one entity-id pattern (else 422).
TeamId = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="A team id.")]
NeedId = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="A need id.")]
DispatchId = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="A dispatch id.")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


def _region(registry: RegistryDep, region: str | None) -> str:
    name = region or next(iter(registry.regions))
    if name not in registry.regions:
        raise HTTPException(404, f"unknown region {name!r}")
    return name


@router.get("/regions", tags=["board"])
async def regions(registry: RegistryDep) -> list[dict[str, Any]]:
    """The regions and their municipalities (names, population, centre), for the map.
    Public: it is reference data."""
    return [
        {
            "id": r.id,
            "names": r.names,
            "timezone": r.timezone,
            "population": r.population,
            "municipalities": [
                {
                    "code": m.code,
                    "name_fi": m.name_fi,
                    "name_sv": m.name_sv,
                    "population": m.population,
                    "lat": m.lat,
                    "lon": m.lon,
                }
                for m in r.municipalities
            ],
        }
        for r in registry.regions.values()
    ]


@router.get("/regions/{region_id}/outline", tags=["board"])
async def region_outline(region_id: str, registry: RegistryDep) -> dict[str, Any]:
    """Land, coastline and national borders around a region (Natural Earth, shipped with
    Tike: tike/data/maps/), for the board's map. Public: it is reference data."""
    from tike.maps import load_outline

    if region_id not in registry.regions:
        raise HTTPException(404, f"unknown region {region_id!r}")
    outline = load_outline(region_id)
    if outline is None:
        raise HTTPException(404, f"no outline is shipped for region {region_id!r}")
    return outline


@router.get("/ui-config", tags=["board"])
async def ui_config(settings: SettingsDep) -> dict[str, Any]:
    """What the web UI needs to know of the settings (public)."""
    return {"map_tiles_url": settings.map_tiles_url, "ws_max_fps": settings.ws_max_fps}


@router.get("/board", tags=["board"])
async def board(
    who: Watcher,
    store: StoreDep,
    registry: RegistryDep,
    commands: CommandsDep,
    request: Request,
    region: str | None = None,
) -> dict[str, Any]:
    """The whole board of a region: every need, team and KPI, with the stream position."""
    name = _region(registry, region)
    await accessed(commands, request, who, "board.read", name)
    epoch, seq, items = await store.snapshot(board_key(name))
    return {"region": name, "epoch": epoch, "seq": seq, "items": items}


@router.get("/needs", tags=["board"])
async def needs(
    who: Watcher,
    store: StoreDep,
    registry: RegistryDep,
    commands: CommandsDep,
    request: Request,
    region: str | None = None,
    status: Literal["open", "closed", "all"] = "open",
) -> list[dict[str, Any]]:
    name = _region(registry, region)
    await accessed(commands, request, who, "needs.list", name)
    items = await store.entities(name, "need")
    found = [i["data"] for i in items if i.get("data")]
    if status != "all":
        found = [n for n in found if n.get("status") == status]
    return sorted(found, key=lambda n: (n.get("priority") != "stat", n.get("received_at")))


@router.get("/needs/{need_id}", tags=["board"])
async def need(
    need_id: NeedId, who: Watcher, store: StoreDep, commands: CommandsDep, request: Request
) -> dict[str, Any]:
    await accessed(commands, request, who, "need.read", need_id)
    found = await store.find_need(need_id)
    if found is None:
        raise HTTPException(404, f"no need {need_id} on the board")
    return found


@router.get("/teams", tags=["board"])
async def teams(
    who: Watcher, store: StoreDep, registry: RegistryDep, region: str | None = None
) -> list[dict[str, Any]]:
    items = await store.entities(_region(registry, region), "team")
    return [i["data"] for i in items if i.get("data")]


@router.get("/kpis", tags=["board"])
async def kpis(
    who: Watcher, store: StoreDep, registry: RegistryDep, region: str | None = None
) -> dict[str, Any]:
    """KPIs of the region and each municipality (keys ``region`` and ``region:code``)."""
    items = await store.entities(_region(registry, region), "kpi")
    return {i["id"]: i["data"] for i in items if i.get("data")}


@router.get("/devices", tags=["board"])
async def devices(
    who: Watcher,
    store: StoreDep,
    commands: CommandsDep,
    request: Request,
    condition: str | None = None,
) -> list[dict[str, Any]]:
    """Device health; it names the client pseudonym of each device (an access)."""
    await accessed(commands, request, who, "devices.list", condition or "all")
    found = await store.devices()
    return [d for d in found if condition is None or d.get("condition") == condition]


@router.get("/teams/{team_id}/dispatches", tags=["teams"])
async def dispatches(
    team_id: TeamId, who: Who, store: StoreDep, commands: CommandsDep, request: Request
) -> dict[str, Any]:
    """A team's active dispatches (the team itself, or admin)."""
    if not who.can_team(team_id):
        raise HTTPException(403, f"{who.role} may not read team {team_id}")
    await accessed(commands, request, who, "dispatches.read", team_id)
    epoch, seq, items = await store.snapshot(team_key(team_id))
    return {"team_id": team_id, "epoch": epoch, "seq": seq, "items": items}


class TeamActionBody(BaseModel):
    action: Literal["received", "accept", "decline", "en_route", "on_site", "complete", "fail"]
    reason: str | None = Field(None, max_length=120)
    outcome: Outcome | None = None


@router.post("/teams/{team_id}/dispatches/{dispatch_id}/actions", tags=["teams"], status_code=202)
async def team_action(
    team_id: TeamId,
    dispatch_id: DispatchId,
    body: TeamActionBody,
    who: Who,
    commands: CommandsDep,
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Accept, decline, en route, on site, complete or fail a dispatch. Idempotent by key."""
    return await _http(commands.team_action(who, team_id, dispatch_id, body.model_dump(), key))


class ControlBody(BaseModel):
    command: Literal["reassign", "close", "acknowledge"]
    reason: str | None = Field(
        None, min_length=1, max_length=120, description="Required except with `acknowledge`."
    )
    team_id: str | None = Field(None, pattern=ENTITY_ID_PATTERN)
    outcome: Outcome | None = None


@router.post("/needs/{need_id}/actions", tags=["control room"], status_code=202)
async def control_action(
    need_id: NeedId,
    body: ControlBody,
    who: ControlRoom,
    commands: CommandsDep,
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Reassign a need to a team, close it (both with a reason), or acknowledge its alert
    (a reason is optional).

    202 means accepted for processing, not done: the worker may still refuse the action
    (a need already closed, an unknown team); its reason then comes on the board as a
    ``notice`` entity with the need's id.
    """
    result = await _http(commands.control_action(who, need_id, body.model_dump(), key))
    return {**result, "status": "accepted", "detail": ACCEPTED}


@router.get("/audit", tags=["audit"])
async def audit(
    who: Watcher,
    store: StoreDep,
    commands: CommandsDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The newest audit records first (their reasons can name clients: an access)."""
    await accessed(commands, request, who, "audit.read", str(limit))
    return await store.audit(limit)


@router.get("/deadletters", tags=["audit"])
async def deadletters(who: Watcher, store: StoreDep) -> dict[str, int]:
    """Dead-letter records by reason."""
    return await store.deadletters()


class TokenBody(BaseModel):
    role: str = Field(max_length=80, description=f"{', '.join(ROLES)} or team:<id>")
    sub: str = Field(
        min_length=1,
        max_length=120,
        description="The person or device that will use the token: a user id or an e-mail "
        "address (never a role name alone). Audit records and timelines name it.",
    )
    ttl_s: float | None = Field(None, gt=0, description="At most TIKE_TOKEN_MAX_TTL_S.")


@router.post("/tokens", tags=["auth"], status_code=201)
async def new_token(
    body: TokenBody, who: Admin, settings: SettingsDep, commands: CommandsDep, store: StoreDep
) -> dict[str, Any]:
    """Issue a token. Its id and expiry are audited (never the token) and recorded, so it can
    be revoked by id; the audit comes first, and no token is given out if it fails."""
    if not valid_role(body.role):
        raise HTTPException(422, f"unknown role {body.role!r}")
    secret = settings.secret.get_secret_value()
    try:
        token = issue(
            secret,
            body.role,
            body.sub,
            body.ttl_s or settings.token_ttl_s,
            settings.token_max_ttl_s,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    made = verify(secret, token)
    after = {"jti": made.jti, "sub": made.sub, "role": made.role, "exp": made.exp}
    await _audited(commands, who, "token.issue", made.jti, None, after)
    await store.record_token(made.jti, made.sub, made.role, made.exp)
    return {"token": token, "role": made.role, "sub": made.sub, "jti": made.jti, "exp": made.exp}


class RevokeBody(BaseModel):
    jti: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


@router.post("/tokens/revoke", tags=["auth"], status_code=202)
async def revoke(
    body: RevokeBody, who: Admin, settings: SettingsDep, store: StoreDep, commands: CommandsDep
) -> dict[str, Any]:
    """Revoke a token by id; open sockets using it close within TIKE_WS_AUTH_CHECK_S.

    The revocation lasts as long as the token: its expiry comes from the record made when it
    was issued, never from the caller. A token id with no record (issued before records were
    kept, or the record lost with Redis's data) is revoked for the longest token lifetime.
    Audited first: if the audit cannot be written, nothing is revoked (503)."""
    exp = await store.token_expiry(body.jti)
    recorded = exp is not None
    if exp is None:
        exp = int(time.time() + settings.token_max_ttl_s)
    after = {"jti": body.jti, "exp": exp, "expiry_recorded": recorded}
    await _audited(commands, who, "token.revoke", body.jti, None, after)
    await store.revoke(body.jti, exp)
    return {"revoked": body.jti, "until": exp, "expiry_recorded": recorded}


@router.get("/me", tags=["auth"])
async def me(who: Who) -> dict[str, Any]:
    """Who the token says the caller is (its id and expiry are needed to revoke it)."""
    return {
        "sub": who.sub,
        "role": who.role,
        "team_id": who.team_id,
        "jti": who.jti,
        "exp": who.exp,
    }


async def accessed(
    commands: CommandsDep, request: Request, who: Who, action: str, target: str
) -> None:
    """Log a read of client data before serving it (503 if it cannot be logged)."""
    await _http(commands.access(who, action, target, origin_of(request)))


async def _http(command: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A command's result, or its refusal as an HTTP error."""
    try:
        return await command
    except CommandError as exc:
        raise HTTPException(exc.status, exc.message) from exc


async def _audited(
    commands: CommandsDep, who: Who, action: str, target: str, before: Any, after: Any
) -> None:
    await _http(commands.audit(who, action, target, before, after))
