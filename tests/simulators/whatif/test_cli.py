"""`tike whatif` end to end on a recorded file: JSON and HTML out, bad input refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tike_cli.cli import main


def test_whatif_writes_json_and_html(
    recorded_day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    night = tmp_path / "night.yaml"
    night.write_text(
        "roster: one-more-night-doctor\nregion: etela-pohjanmaa\nextends: etela-pohjanmaa\n"
        "teams:\n  - {id: ep-mobile-doctor-night-2, service: mobile_doctor, base: '408',\n"
        "     coverage: {within_km: 150}, skills: [physician, palliative], capacity: 2,\n"
        "     shifts: ['20:00-08:00']}\n"
    )
    out = tmp_path / "report"
    code = main(
        [
            "whatif",
            str(recorded_day),
            "--baseline",
            "roster=etela-pohjanmaa",
            "--variant",
            f"roster={night}",
            "--variant",
            "timeout.urgent=240",
            "--seed",
            "7",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    report = orjson.loads((out / "whatif.json").read_bytes())
    assert report["variant"]["roster"] == "one-more-night-doctor"
    assert report["variant"]["offer_timeouts_s"]["urgent"] == 240
    assert report["baseline"]["offer_timeouts_s"]["urgent"] == 300
    assert (out / "whatif.html").read_text().startswith("<!doctype html>")
    shown = capsys.readouterr().out
    assert "escalations" in shown and "one-more-night-doctor" in shown


def test_whatif_refuses_a_bad_roster_with_its_line(
    recorded_day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("roster: bad\nregion: etela-pohjanmaa\nteams:\n  - {id: x, service: nurse}\n")
    code = main(
        ["whatif", str(recorded_day), "--variant", f"roster={bad}", "--out", str(tmp_path / "r")]
    )
    assert code == 1
    assert f"{bad}:4:" in capsys.readouterr().err


def test_whatif_refuses_unknown_keys(
    recorded_day: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["whatif", str(recorded_day), "--variant", "doctors=3"]) == 2
    assert "unknown key" in capsys.readouterr().err
