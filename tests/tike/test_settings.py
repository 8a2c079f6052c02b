from pathlib import Path

import pytest
from pydantic import ValidationError

from tike.settings import CommonSettings, WorkerSettings, settings_table

ROOT = Path(__file__).resolve().parents[2]


def test_placeholder_secret_is_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKE_ENV", "prod")
    with pytest.raises(ValidationError, match="TIKE_SECRET is a placeholder"):
        CommonSettings()
    monkeypatch.setenv("TIKE_SECRET", "changethis")
    with pytest.raises(ValidationError, match="placeholder"):
        CommonSettings()
    monkeypatch.setenv("TIKE_SECRET", "9f2c1e8d7a6b5c4d3e2f1a0b")
    assert CommonSettings().env == "prod"


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
