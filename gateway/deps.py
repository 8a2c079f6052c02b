"""FastAPI dependencies: the shared services and the caller's principal."""

from __future__ import annotations

from collections.abc import Callable, Collection
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


class AuthFailure(Exception):
    """A token that does not admit its bearer: bad, expired, too long-lived or revoked."""


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer …`` header ("" if none)."""
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return ""


async def authenticate(
    token: str,
    settings: GatewaySettings,
    store: Store,
    channel: str,
    revoked: Collection[str] = (),
) -> Principal:
    """The one check of a token, for REST (``channel="rest"``) and websockets (``"ws"``):
    signature, expiry, the longest lifetime, then revocation (``revoked``: a process-wide
    set consulted before Redis). Raises :class:`AuthFailure`, counted by channel."""
    try:
        if not token:
            raise AuthFailure("missing bearer token")
        try:
            who = verify(
                settings.secret.get_secret_value(), token, max_ttl_s=settings.token_max_ttl_s
            )
        except TokenError as exc:
            raise AuthFailure(str(exc)) from exc
        if who.jti in revoked or await store.is_revoked(who.jti):
            raise AuthFailure("token revoked")
    except AuthFailure:
        metrics.AUTH_FAILURES.labels(channel).inc()
        raise
    return who


async def get_principal(request: Request, store: StoreDep, settings: SettingsDep) -> Principal:
    token = bearer_token(request.headers.get("authorization", ""))
    try:
        return await authenticate(token, settings, store, "rest")
    except AuthFailure as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


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
