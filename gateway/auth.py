"""Tokens and roles.

A token is a compact JWT (HS256) signed with ``TIKE_SECRET``: ``{sub, role, iat, exp, jti}``.
Roles: ``control_room``, ``operator``, ``admin`` and ``team:<team id>``. A revoked token id is
kept in Redis until the token would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tike import pii
from tike.events import SUBJECT_PATTERN

ROLES = ("control_room", "operator", "admin")
#: ``team:<team id>``; the team id follows the one entity-id pattern (tike.events).
TEAM_ROLE = re.compile(r"team:([A-Za-z0-9][A-Za-z0-9._-]{0,63})")
SUBJECT = re.compile(SUBJECT_PATTERN)
HEADER = {"alg": "HS256", "typ": "JWT"}


class TokenError(Exception):
    """A token that cannot be used; the message says why (never the token itself)."""


def valid_role(role: str) -> bool:
    return role in ROLES or TEAM_ROLE.fullmatch(role) is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, signing_input: str) -> str:
    return _b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: subject, role and the token's id and expiry (epoch seconds)."""

    sub: str
    role: str
    jti: str
    exp: int

    @property
    def team_id(self) -> str | None:
        m = TEAM_ROLE.fullmatch(self.role)
        return m.group(1) if m else None

    def can(self, *roles: str) -> bool:
        """True if the principal has one of ``roles`` (``admin`` has all of them)."""
        return self.role == "admin" or self.role in roles

    def can_team(self, team_id: str) -> bool:
        """May read and act on ``team_id``'s dispatches: that team, or admin."""
        return self.role == "admin" or self.team_id == team_id


#: Default of ``TIKE_TOKEN_MAX_TTL_S``: no token lives longer than this.
MAX_TTL_S = 7 * 86400


def issue(
    secret: str, role: str, sub: str, ttl_s: float = 8 * 3600, max_ttl_s: float = MAX_TTL_S
) -> str:
    """A signed token for ``sub`` (a person or device: a user id or e-mail address, never a
    role name alone) with ``role``, valid for ``ttl_s`` (at most ``max_ttl_s``)."""
    if not valid_role(role):
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)} or team:<id>")
    if not sub:
        raise ValueError("a token names its subject: the person or device that will use it")
    if sub in ROLES or sub == role:
        raise ValueError(f"subject {sub!r} is a role; name the person or device instead")
    if ttl_s > max_ttl_s:
        raise ValueError(
            f"ttl {ttl_s:g} s is over the maximum token lifetime {max_ttl_s:g} s "
            "(TIKE_TOKEN_MAX_TTL_S)"
        )
    if pii.contains_code(sub):
        raise ValueError("the subject holds a personal identity code; use a user or device id")
    if not SUBJECT.fullmatch(sub):
        raise ValueError(f"subject {sub!r} must be 1-120 of A-Z a-z 0-9 . _ @ : + -")
    if ttl_s <= 0:
        raise ValueError("ttl must be positive")
    now = int(time.time())
    claims = {
        "sub": sub,
        "role": role,
        "iat": now,
        "exp": now + math.ceil(ttl_s),
        "jti": secrets.token_hex(16),
    }
    signing_input = f"{_b64(orjson.dumps(HEADER))}.{_b64(orjson.dumps(claims))}"
    return f"{signing_input}.{_sign(secret, signing_input)}"


def verify(
    secret: str, token: str, now: float | None = None, max_ttl_s: float | None = None
) -> Principal:
    """The principal of a valid, unexpired token; :class:`TokenError` otherwise. With
    ``max_ttl_s``, a token that says it lives longer (``exp - iat``) is refused too."""
    if not token or len(token) > 4096:
        raise TokenError("missing or oversized token")
    if not token.isascii():
        raise TokenError("malformed token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token")
    signing_input = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(secret, signing_input), parts[2]):
        raise TokenError("bad token signature")
    try:
        header = orjson.loads(_unb64(parts[0]))
        claims: dict[str, Any] = orjson.loads(_unb64(parts[1]))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise TokenError("malformed token") from exc
    if header != HEADER or not isinstance(claims, dict):
        raise TokenError("unsupported token")
    sub, role, jti, exp = (claims.get(k) for k in ("sub", "role", "jti", "exp"))
    if not (isinstance(sub, str) and isinstance(role, str) and isinstance(jti, str)):
        raise TokenError("token lacks sub, role or jti")
    if not isinstance(exp, int) or not valid_role(role):
        raise TokenError("token has a bad role or expiry")
    if exp <= (time.time() if now is None else now):
        raise TokenError("token expired")
    if max_ttl_s is not None:
        iat = claims.get("iat")
        if not isinstance(iat, int) or exp - iat > max_ttl_s + 1:
            raise TokenError("token lifetime is over the maximum")
    return Principal(sub=sub, role=role, jti=jti, exp=exp)
