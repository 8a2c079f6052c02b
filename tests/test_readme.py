"""The README's first screen: the two commands, what `make run` shows, and the screenshots."""

from __future__ import annotations

from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_the_readme_starts_with_the_two_commands() -> None:
    lines = README.splitlines()
    assert lines[:5] == ["# Tike", "", "```sh", lines[3], lines[4]]
    assert lines[3].startswith("make run ") and lines[4].startswith("make test ")
    assert lines[5] == "```"


def test_the_readme_shows_the_demo_screenshots_the_browser_tests_take() -> None:
    for name in ("demo-board", "demo-team", "demo-rules"):
        assert f"docs/screenshots/{name}.png" in README
        assert (Path(__file__).resolve().parents[1] / "docs/screenshots" / f"{name}.png").is_file()
