"""docker-compose.yml and the Dockerfile agree with the code (no Docker engine here)."""

from __future__ import annotations

import fnmatch
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
COMPOSE_ONLY = {"TIKE_PUBLISHED_PORT", "TIKE_PUBLISHED_BIND"}


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
    published = COMPOSE["services"]["proxy"]["ports"][0]
    assert published.startswith("${TIKE_PUBLISHED_BIND:-127.0.0.1}:${TIKE_PUBLISHED_PORT:-8000}:")
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


TLS: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.tls.yml").read_text())


def test_plain_http_is_published_on_loopback_only_by_default() -> None:
    """Compose published plain HTTP on every interface."""
    (published,) = COMPOSE["services"]["proxy"]["ports"]
    bind = published.split(":-", 1)[1].split("}", 1)[0]
    assert bind == "127.0.0.1", published


def test_the_tls_overlay_serves_https_with_certificates_from_files() -> None:
    from tests.test_deploy import HTTP, SERVER_BLOCK, _find, parse_nginx

    proxy = TLS["services"]["proxy"]
    (https,) = proxy["ports"]
    assert https.endswith(":8443")
    mounts = {target: src for src, target, _ in (v.rsplit(":", 2) for v in proxy["volumes"])}
    # The server file lands where nginx.conf includes it from.
    (include,) = [d for d in _find(HTTP[2] or [], "include") if "tike-" in d[1][0]]
    pattern = include[1][0]
    tls_target = next(t for t, src in mounts.items() if src == "./deploy/nginx/tls.conf")
    assert fnmatch.fnmatch(tls_target, pattern), (tls_target, pattern)
    # Certificates come from a directory the operator must name.
    cert_dir = next(t for t, src in mounts.items() if src.startswith("${TLS_CERT_DIR:?"))
    tls_conf = parse_nginx((ROOT / "deploy" / "nginx" / "tls.conf").read_text())
    (server,) = [b for n, _, b in tls_conf if n == "server"]
    assert server is not None
    (listen,) = _find(server, "listen")
    assert listen[1] == ["8443", "ssl"]
    for name in ("ssl_certificate", "ssl_certificate_key"):
        (directive,) = _find(server, name)
        assert directive[1][0].startswith(cert_dir + "/"), directive
    (protocols,) = _find(server, "ssl_protocols")
    assert set(protocols[1]) <= {"TLSv1.2", "TLSv1.3"}
    assert any(d[1][0] == "Strict-Transport-Security" for d in _find(server, "add_header"))
    # The same locations as the plain server: nothing reachable only over one of them.
    assert _find(server, "location") == _find(SERVER_BLOCK, "location")
