"""Transport hardening of the gateway: security headers, /docs in prod, no internal addresses
in error bodies, websocket Origin checks, socket caps, write rate limits, log redaction."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from gateway.app import RedactTokens, create_app
from gateway.auth import Principal, issue
from gateway.commands import CommandError, Commands
from gateway.ws import Closed, _hold_socket
from tike.settings import GatewaySettings

SECRET = "hardening-test-secret"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _settings(**extra: object) -> GatewaySettings:
    base: dict[str, object] = {
        "env": "test",
        "secret": SecretStr(SECRET),
        "redis_url": UNREACHABLE_REDIS,
    }
    return GatewaySettings(**{**base, **extra})  # type: ignore[arg-type]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), project=False)) as c:
        yield c


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/healthz", "/", "/js/board.js", "/api/regions", "/api/board"):
        resp = client.get(path)
        csp = resp.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
        assert resp.headers["x-content-type-options"] == "nosniff", path
        assert resp.headers["x-frame-options"] == "DENY", path
        assert resp.headers["referrer-policy"] == "no-referrer", path


def test_map_tiles_origin_is_allowed_for_images_only() -> None:
    settings = _settings(map_tiles_url="https://tiles.example.fi/{z}/{x}/{y}.png")
    with TestClient(create_app(settings, project=False)) as c:
        csp = c.get("/healthz").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://tiles.example.fi;" in csp
    assert "connect-src 'self';" in csp


def test_api_docs_are_off_in_prod() -> None:
    prod = _settings(env="prod", secret=SecretStr(secrets.token_hex(32)))
    with TestClient(create_app(prod, project=False)) as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert c.get(path).status_code == 404, path
    with TestClient(create_app(_settings(), project=False)) as c:
        assert c.get("/openapi.json").status_code == 200


def test_error_bodies_and_healthz_name_no_internal_address(client: TestClient) -> None:
    token = issue(SECRET, "admin", "root@example.fi")
    for path, headers in (("/healthz", {}), ("/api/me", {"Authorization": f"Bearer {token}"})):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 503, path
        assert "127.0.0.1" not in resp.text and ":1" not in resp.text.replace(":1,", ""), resp.text


def _ws_close_code(client: TestClient, headers: dict[str, str]) -> int:
    token = issue(SECRET, "control_room", "anna@example.fi")
    url = f"/ws/board?token={token}"
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(url, headers=headers) as ws,
    ):
        ws.receive_text()
    return closed.value.code


def test_websockets_from_another_origin_are_refused(client: TestClient) -> None:
    assert _ws_close_code(client, {"origin": "https://evil.example"}) == 4403
    # Same origin (the Host the browser used) passes the check (then fails on Redis here).
    assert _ws_close_code(client, {"origin": "http://testserver"}) != 4403
    assert _ws_close_code(client, {}) != 4403  # no Origin: not a browser
    allowed = _settings(ws_allowed_origins="https://tike.example.fi, https://b.example.fi")
    with TestClient(create_app(allowed, project=False)) as c:
        assert _ws_close_code(c, {"origin": "http://testserver"}) == 4403
        assert _ws_close_code(c, {"origin": "https://b.example.fi"}) != 4403


def test_sockets_per_token_are_capped() -> None:
    state = SimpleNamespace(settings=_settings(ws_max_per_token=2), sockets_per_token={})
    ws = SimpleNamespace(app=SimpleNamespace(state=state))
    who = Principal("anna@example.fi", "control_room", "jti-1", 2**40)
    first, second = _hold_socket(ws, who), _hold_socket(ws, who)  # type: ignore[arg-type]
    with pytest.raises(Closed) as refused:
        _hold_socket(ws, who)  # type: ignore[arg-type]
    assert refused.value.code == 4429
    other = Principal("bea@example.fi", "control_room", "jti-2", 2**40)
    _hold_socket(ws, other)  # type: ignore[arg-type]
    first()
    first()  # released once only
    _hold_socket(ws, who)  # type: ignore[arg-type]
    assert state.sockets_per_token == {"jti-1": 2, "jti-2": 1}
    second()


def test_writes_per_token_are_rate_limited() -> None:
    commands = Commands(_settings(write_rate_per_min=3), store=None)  # type: ignore[arg-type]
    who = Principal("anna@example.fi", "control_room", "jti-1", 2**40)
    for _ in range(3):
        commands._rate_limit(who)
    with pytest.raises(CommandError) as refused:
        commands._rate_limit(who)
    assert refused.value.status == 429
    commands._rate_limit(Principal("bea@example.fi", "operator", "jti-2", 2**40))


@pytest.mark.parametrize(
    "line",
    [
        "GET /ws/board?token=abc.def.ghi HTTP/1.1",
        "GET /ws/board?tok%65n=abc.def.ghi HTTP/1.1",
        "GET /ws/board?%74oken%3Dabc.def.ghi HTTP/1.1",
        "GET /ws/board?TOKEN=abc.def.ghi&region=x",
    ],
)
def test_log_redaction_catches_percent_encoded_token_parameters(line: str) -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, "x", 1, "%s", (line,), None)
    RedactTokens().filter(record)
    assert "abc.def" not in record.getMessage() and "[redacted]" in record.getMessage()
