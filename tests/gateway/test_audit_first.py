"""Writes are audited first: with Kafka (and so the audit log) unreachable, the gateway
issues no token and revokes nothing. Against a real Redis; Kafka is a closed port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.auth import issue, verify
from tike.settings import GatewaySettings
from tike_cli.harness import start_redis

SECRET = "audit-first-test-secret"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    child, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    child.stop()


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    settings = GatewaySettings(
        env="test",
        secret=SecretStr(SECRET),
        redis_url=redis_url,
        kafka_bootstrap="127.0.0.1:1",  # nothing listens: every audit write fails
        token_max_ttl_s=86400,
    )
    with TestClient(create_app(settings, project=False)) as c:
        yield c


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(SECRET, 'admin', 'root@example.fi')}"}


def test_a_revocation_whose_audit_fails_is_not_done(client: TestClient, redis_url: str) -> None:
    victim = verify(SECRET, issue(SECRET, "operator", "mallory@example.fi"))
    resp = client.post("/api/tokens/revoke", json={"jti": victim.jti}, headers=_admin())
    assert resp.status_code == 503, resp.text
    r = redis.Redis.from_url(redis_url)
    assert not r.exists(f"tike:revoked:{victim.jti}")
    assert r.zscore("tike:revoked", victim.jti) is None


def test_no_token_is_issued_when_its_audit_fails(client: TestClient, redis_url: str) -> None:
    before = set(redis.Redis.from_url(redis_url).scan_iter("tike:token:*"))
    body = {"role": "operator", "sub": "anna@example.fi"}
    resp = client.post("/api/tokens", json=body, headers=_admin())
    assert resp.status_code == 503 and "token" not in resp.json()
    assert set(redis.Redis.from_url(redis_url).scan_iter("tike:token:*")) == before


def test_token_lifetime_is_capped(client: TestClient) -> None:
    body = {"role": "operator", "sub": "anna@example.fi", "ttl_s": 86401}
    resp = client.post("/api/tokens", json=body, headers=_admin())
    assert resp.status_code == 422 and "maximum token lifetime" in resp.text
    # A token that says it lives longer than the maximum is refused (one signed with a
    # larger maximum, or by an older gateway).
    long = issue(SECRET, "admin", "root@example.fi", ttl_s=2 * 86400, max_ttl_s=30 * 86400)
    resp = client.get("/api/me", headers={"Authorization": f"Bearer {long}"})
    assert resp.status_code == 401 and "lifetime" in resp.text


def test_a_token_names_a_subject_not_a_role(client: TestClient) -> None:
    for body in ({"role": "operator"}, {"role": "operator", "sub": "operator"}):
        assert client.post("/api/tokens", json=body, headers=_admin()).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/api/teams/T1:v/dispatches",
        "/api/teams/X:stream/dispatches",
        "/api/needs/need-1:x",
    ],
)
def test_ids_off_the_pattern_in_paths_are_refused(client: TestClient, path: str) -> None:
    resp = client.get(path, headers=_admin())
    assert resp.status_code == 422, resp.text


def test_a_read_of_client_data_that_cannot_be_logged_is_not_served(client: TestClient) -> None:
    """Reads of client data were not logged; now one that cannot be logged is refused."""
    for path in ("/api/board", "/api/needs", "/api/needs/need-1", "/api/audit", "/api/devices"):
        resp = client.get(path, headers=_admin())
        assert resp.status_code == 503, (path, resp.text)
