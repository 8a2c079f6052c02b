"""docker-compose.yml and the Dockerfile agree with the code (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tike.settings import SERVICE_SETTINGS
from tike_cli.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
KNOWN = {f"TIKE_{name.upper()}" for cls in SERVICE_SETTINGS for name in cls.model_fields}
#: Compose-only variables: interpolated by compose itself, never read by Tike.
COMPOSE_ONLY = {"TIKE_PUBLISHED_PORT"}


def _tike_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in COMPOSE["services"].items() if s.get("image") == "tike:latest"}


def test_every_tike_variable_in_compose_is_a_setting() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\bTIKE_[A-Z0-9_]+", text)) - COMPOSE_ONLY
    unknown = used - KNOWN
    assert not unknown, f"compose sets variables no settings class reads: {unknown}"


def test_required_settings_are_set_and_secrets_are_required() -> None:
    for name, service in _tike_services().items():
        env = service["environment"]
        assert env["TIKE_ENV"] == "prod", name
        assert env["TIKE_SECRET"].startswith("${TIKE_SECRET:?"), f"{name}: secret must be required"
        for var in ("TIKE_KAFKA_BOOTSTRAP", "TIKE_REDIS_URL"):
            assert var in env, f"{name} lacks {var}"
        assert env["TIKE_KAFKA_PROFILE"] == "kafka"


def test_service_commands_are_real_cli_commands() -> None:
    parser = build_parser()
    for name, service in _tike_services().items():
        args = parser.parse_args(service["command"])  # exits on an unknown command
        assert callable(args.fn), name


def test_services_have_healthchecks_and_wait_for_healthy_dependencies() -> None:
    services = COMPOSE["services"]
    for name in ("kafka", "redis", "worker", "gateway"):
        assert "healthcheck" in services[name], name
    for name in ("worker", "gateway"):
        for cond in services[name]["depends_on"].values():
            assert cond["condition"] in {"service_healthy", "service_completed_successfully"}
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["simulator"]["profiles"] == ["simulate"]


def test_ports_in_compose_match_settings_defaults() -> None:
    gateway = COMPOSE["services"]["gateway"]
    port = int(gateway["environment"]["TIKE_GATEWAY_PORT"])
    assert port > 0
    # Scaled gateways publish nothing; the proxy publishes one port (tests/test_deploy.py
    # checks that the proxy forwards to the gateway's port).
    assert "ports" not in gateway
    assert COMPOSE["services"]["proxy"]["ports"][0].startswith("${TIKE_PUBLISHED_PORT:-8000}:")
    worker = COMPOSE["services"]["worker"]
    assert worker["environment"]["TIKE_METRICS_PORT"] in worker["healthcheck"]["test"][-1]


def test_dockerfile_copies_every_package_and_runs_tike() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in (
        "tike",
        "tike_core",
        "rules",
        "streams",
        "simulators",
        "gateway",
        "tike_cli",
        "ui_static",
    ):
        assert f"COPY {package} ./{package}" in dockerfile
    assert 'ENTRYPOINT ["tike"]' in dockerfile
    assert re.search(r"^USER (?!root)", dockerfile, re.M), "image must not run as root"


def test_dockerfile_points_the_gateway_at_the_copied_ui() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    env = re.search(r"^ENV .*TIKE_UI_DIR=(\S+)", dockerfile, re.M)
    assert env is not None, "the installed gateway cannot find ui_static/ without TIKE_UI_DIR"
    assert f"COPY ui_static {env.group(1).removeprefix('/app/')}" in dockerfile.replace("./", "")
