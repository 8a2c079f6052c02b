"""Gateway HTTP errors that happen before Redis is touched: body limits, missing or bad
tokens, and the OpenAPI schema. Redis is deliberately unreachable here, so a request that got
as far as Redis would answer 503 instead of the status these tests expect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr

from gateway import metrics
from gateway.app import create_app
from gateway.auth import issue
from tike.settings import GatewaySettings

SECRET = "app-errors-test-secret"
LIMIT = 1024
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
JSON = {"content-type": "application/json"}


def _settings() -> GatewaySettings:
    return GatewaySettings(
        env="test",
        secret=SecretStr(SECRET),
        max_body_bytes=LIMIT,
        redis_url=UNREACHABLE_REDIS,
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), project=False)) as c:
        yield c


@pytest.fixture
def lenient_client() -> Iterator[TestClient]:
    """A client that returns the gateway's 500 response instead of raising."""
    app = create_app(_settings(), project=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(claims: dict[str, object], secret: str = SECRET) -> str:
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    signing_input = f"{header}.{_b64(orjson.dumps(claims))}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _rules_body(size: int) -> bytes:
    """A valid RulesText JSON body of exactly ``size`` bytes."""
    empty = len(b'{"text": ""}')
    body = b'{"text": "' + b"a" * (size - empty) + b'"}'
    assert len(body) == size
    return body


def _auth_failures() -> float:
    return (
        metrics.REGISTRY.get_sample_value("tike_gateway_auth_failures_total", {"channel": "rest"})
        or 0.0
    )


def _assert_payload_too_large(resp: Response) -> None:
    assert resp.status_code == 413
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["error"] == "payload_too_large"
    assert str(LIMIT) in body["detail"]


def test_body_over_limit_is_413(client: TestClient) -> None:
    resp = client.post("/api/rules/validate", content=_rules_body(LIMIT + 1), headers=JSON)
    _assert_payload_too_large(resp)


def test_much_larger_body_is_413(client: TestClient) -> None:
    resp = client.post("/api/rules/validate", content=_rules_body(64 * LIMIT), headers=JSON)
    _assert_payload_too_large(resp)


def test_body_at_limit_passes_the_limit(client: TestClient) -> None:
    """Exactly ``max_body_bytes`` is allowed; the request then fails on its missing token."""
    resp = client.post("/api/rules/validate", content=_rules_body(LIMIT), headers=JSON)
    assert resp.status_code == 401
    assert resp.json()["detail"] == "missing bearer token"


def test_body_limit_applies_before_auth_and_routing(client: TestClient) -> None:
    token = {"authorization": "Bearer not.a.token"}
    resp = client.post("/api/rules/validate", content=_rules_body(LIMIT + 1), headers=JSON | token)
    _assert_payload_too_large(resp)
    _assert_payload_too_large(client.post("/no/such/path", content=b"x" * (LIMIT + 1)))


@pytest.mark.parametrize("declared", ["abc", "-1", "1e3", "0x10", ""])
def test_non_numeric_content_length_is_413(client: TestClient, declared: str) -> None:
    resp = client.post(
        "/api/rules/validate", content=b"{}", headers=JSON | {"content-length": declared}
    )
    _assert_payload_too_large(resp)


def test_declared_content_length_over_limit_is_413(client: TestClient) -> None:
    """The declared length is checked before any of the body is read."""
    resp = client.post(
        "/api/rules/validate", content=b"{}", headers=JSON | {"content-length": str(LIMIT + 1)}
    )
    _assert_payload_too_large(resp)


def test_streamed_body_over_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(4):
            yield b"a" * 512
        yield b'"}'

    resp = client.post("/api/rules/validate", content=chunks(), headers=JSON)
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    _assert_payload_too_large(resp)


def _assert_unauthorized(resp: Response, detail: str) -> None:
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    body = resp.json()
    assert body["error"] == "http_error"
    assert body["detail"] == detail


def test_missing_bearer_token_is_401(client: TestClient) -> None:
    before = _auth_failures()
    _assert_unauthorized(client.get("/api/board"), "missing bearer token")
    assert _auth_failures() == before + 1


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "bearerabc"])
def test_other_schemes_are_missing_bearer_token(client: TestClient, header: str) -> None:
    resp = client.get("/api/board", headers={"authorization": header})
    _assert_unauthorized(resp, "missing bearer token")


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("nonsense", "malformed token"),
        ("a.b.c.d", "malformed token"),
        ("a.b.c", "bad token signature"),
        ("x" * 5000, "missing or oversized token"),
    ],
)
def test_bad_token_is_401(client: TestClient, token: str, detail: str) -> None:
    before = _auth_failures()
    resp = client.get("/api/board", headers={"authorization": f"Bearer {token}"})
    _assert_unauthorized(resp, detail)
    assert _auth_failures() == before + 1


def test_token_from_another_secret_is_401(client: TestClient) -> None:
    token = issue("some-other-secret", "admin", "tester@example.fi")
    resp = client.get("/api/board", headers={"authorization": f"Bearer {token}"})
    _assert_unauthorized(resp, "bad token signature")


def test_expired_token_is_401(client: TestClient) -> None:
    """Signed with the gateway's secret but expired: refused before the revocation lookup."""
    token = _token({"sub": "a", "role": "admin", "jti": "j1", "exp": int(time.time()) - 10})
    resp = client.get("/api/board", headers={"authorization": f"bearer   {token}"})
    _assert_unauthorized(resp, "token expired")


def test_bad_token_on_post_is_401(client: TestClient) -> None:
    resp = client.post(
        "/api/teams/EP-1/dispatches/d-1/actions",
        json={"action": "accept"},
        headers={"authorization": "Bearer a.b.c"},
    )
    _assert_unauthorized(resp, "bad token signature")


def test_non_ascii_token_is_401(lenient_client: TestClient) -> None:
    resp = lenient_client.get("/api/board", headers={"authorization": b"Bearer a.b.\xe9"})
    _assert_unauthorized(resp, "malformed token")


def test_openapi_lists_the_api(client: TestClient) -> None:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema["info"]["title"] == "Tike gateway"
    paths = schema["paths"]
    assert "get" in paths["/api/board"]
    assert "post" in paths["/api/rules/activate"]
    action = paths["/api/teams/{team_id}/dispatches/{dispatch_id}/actions"]
    assert "post" in action
    params = {p["name"] for p in action["post"]["parameters"] if p["in"] == "path"}
    assert params == {"team_id", "dispatch_id"}
    assert "/metrics" not in paths  # excluded from the schema
