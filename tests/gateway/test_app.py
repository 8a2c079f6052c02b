"""Gateway health against a real Redis server (valkey-server from the wheel)."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.store import LEASE
from tike.settings import GatewaySettings
from tike_cli.embedded import free_port
from tike_cli.harness import start_redis


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


def test_healthz_reports_the_projector_down_when_no_gateway_holds_the_lease(
    tmp_path: Path,
) -> None:
    """A process that does not project (project=False) and no other gateway: after a lease
    period, /healthz says the projector is down (still 200: Redis answers), and up again as
    soon as some gateway holds the lease."""
    child, url = start_redis(tmp_path)
    settings = GatewaySettings(redis_url=url, projector_lease_s=0.3)
    try:
        with TestClient(create_app(settings, project=False)) as client:
            body = client.get("/healthz").json()
            assert body["projector"] == "up"  # a lease period of grace after the start
            time.sleep(0.5)
            resp = client.get("/healthz")
            body = resp.json()
            assert resp.status_code == 200 and body["status"] == "ok"
            assert body["projector"] == "down" and body["projector_lease_missing_s"] >= 0.3
            assert body["projector_active"] is False
            assert "tike_gateway_projection_down 1.0" in client.get("/metrics").text
            with redis.Redis.from_url(url) as r:
                r.set(LEASE, "another-gateway", px=5000)
            body = client.get("/healthz").json()
            assert body["projector"] == "up" and body["projector_lease_missing_s"] == 0
    finally:
        child.stop()
