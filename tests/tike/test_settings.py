from pathlib import Path

import pytest
from pydantic import ValidationError

from tike.settings import (
    CommonSettings,
    GatewaySettings,
    WorkerSettings,
    secret_bits,
    settings_table,
)

ROOT = Path(__file__).resolve().parents[2]


def test_placeholder_secret_is_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKE_ENV", "prod")
    with pytest.raises(ValidationError, match="TIKE_SECRET is a placeholder"):
        CommonSettings()
    monkeypatch.setenv("TIKE_SECRET", "changethis")
    with pytest.raises(ValidationError, match="placeholder"):
        CommonSettings()
    monkeypatch.setenv("TIKE_SECRET", "9f2c1e8d7a6b5c4d3e2f1a0b" * 2 + "9f2c1e8d7a6b5c4d")
    assert CommonSettings().env == "prod"


@pytest.mark.parametrize(
    "weak", ["abc", "password", "correct horse battery", "9f2c1e8d7a6b5c4d3e2f1a0b", "ab" * 40]
)
def test_prod_refuses_secrets_under_32_random_bytes(
    monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("TIKE_ENV", "prod")
    monkeypatch.setenv("TIKE_SECRET", weak)
    with pytest.raises(ValidationError, match=r"too weak.*openssl rand -hex 32"):
        CommonSettings()


def test_prod_accepts_the_documented_generators(monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    monkeypatch.setenv("TIKE_ENV", "prod")
    for strong in (secrets.token_hex(32), secrets.token_urlsafe(32)):
        assert secret_bits(strong) >= 256
        monkeypatch.setenv("TIKE_SECRET", strong)
        assert CommonSettings().env == "prod"


def test_placeholder_refused_when_the_gateway_binds_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TIKE_ENV", "TIKE_SECRET", "TIKE_CONTAINER"):
        monkeypatch.delenv(name, raising=False)
    assert GatewaySettings(gateway_host="127.0.0.1").env == "dev"
    assert GatewaySettings(gateway_host="::1").env == "dev"
    for host in ("0.0.0.0", "192.168.1.10", "gateway.example.org", "::"):
        with pytest.raises(ValidationError, match="placeholder and the gateway binds"):
            GatewaySettings(gateway_host=host)
    monkeypatch.setenv("TIKE_SECRET", "a-real-dev-secret")
    assert GatewaySettings(gateway_host="0.0.0.0").gateway_host == "0.0.0.0"


def test_placeholder_refused_in_the_container_unless_env_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TIKE_ENV", raising=False)
    monkeypatch.delenv("TIKE_SECRET", raising=False)
    monkeypatch.setenv("TIKE_CONTAINER", "1")
    with pytest.raises(ValidationError, match="TIKE_ENV is not set in a container"):
        CommonSettings()
    monkeypatch.setenv("TIKE_ENV", "dev")
    assert CommonSettings().env == "dev"


def test_the_image_marks_itself_a_container() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "TIKE_CONTAINER=1" in dockerfile


def test_dev_accepts_the_dev_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIKE_SECRET", raising=False)
    assert CommonSettings(env="dev").secret.get_secret_value() == "dev-secret"


def test_embedded_profile_tunes_fetch_wait_and_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKE_KAFKA_PROFILE", "embedded")
    s = WorkerSettings()
    assert s.fetch_wait_ms == 5 and s.session_timeout == 4.0
    monkeypatch.setenv("TIKE_KAFKA_PROFILE", "kafka")
    s = WorkerSettings()
    assert s.fetch_wait_ms == 1500 and s.session_timeout == 30.0
    monkeypatch.setenv("TIKE_FETCH_MAX_WAIT_MS", "50")
    assert WorkerSettings().fetch_wait_ms == 50


def test_readme_settings_table_is_generated_from_the_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README settings table is stale: run `tike settings`"
