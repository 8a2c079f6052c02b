"""Gateway health against a real Redis server (valkey-server from the wheel)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.integration.harness import start_redis
from tike.embedded import free_port
from tike.settings import GatewaySettings


def test_healthz_reports_redis(tmp_path: Path) -> None:
    child, url = start_redis(tmp_path)
    try:
        with TestClient(create_app(GatewaySettings(redis_url=url))) as client:
            body = client.get("/healthz").json()
            assert body["status"] == "ok" and body["redis"] is True
            assert client.get("/").status_code == 200
    finally:
        child.stop()


def test_healthz_is_503_without_redis() -> None:
    settings = GatewaySettings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings)) as client:
        resp = client.get("/healthz")
        assert resp.status_code == 503
        assert resp.json()["redis"] is False and resp.json()["status"] == "degraded"
