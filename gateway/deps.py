"""FastAPI dependencies: the shared services and the caller's principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from gateway import metrics
from gateway.auth import Principal, TokenError, verify
from gateway.commands import Commands
from gateway.store import Store
from tike.regions import Registry
from tike.settings import GatewaySettings


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_commands(request: Request) -> Commands:
    commands: Commands = request.app.state.commands
    return commands


def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


StoreDep = Annotated[Store, Depends(get_store)]
CommandsDep = Annotated[Commands, Depends(get_commands)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]


async def get_principal(request: Request, store: StoreDep, settings: SettingsDep) -> Principal:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        metrics.AUTH_FAILURES.labels("rest").inc()
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        who = verify(
            settings.secret.get_secret_value(),
            header[7:].strip(),
            max_ttl_s=settings.token_max_ttl_s,
        )
    except TokenError as exc:
        metrics.AUTH_FAILURES.labels("rest").inc()
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    if await store.is_revoked(who.jti):
        metrics.AUTH_FAILURES.labels("rest").inc()
        raise HTTPException(401, "token revoked", headers={"WWW-Authenticate": "Bearer"})
    return who


Who = Annotated[Principal, Depends(get_principal)]


def role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that admits ``roles`` (and admin)."""

    def check(who: Who) -> Principal:
        if not who.can(*roles):
            raise HTTPException(403, f"role {who.role} may not do this; needs {' or '.join(roles)}")
        return who

    return check


ControlRoom = Annotated[Principal, Depends(role("control_room"))]
Watcher = Annotated[Principal, Depends(role("control_room", "operator"))]
Operator = Annotated[Principal, Depends(role("operator"))]
Admin = Annotated[Principal, Depends(role("admin"))]
