"""The layer contract (pyproject.toml, [tool.importlinter]) holds on the tree, and breaks on a
back-pointing import: a copy of the packages with one injected import fails `lint-imports`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("*.pyc"))
    return copy


def test_every_installed_package_is_in_a_layer() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installed = {p.split(".")[0] for p in project["tool"]["setuptools"]["packages"]}
    layered = {layer for c in CONFIG["contracts"] if c["type"] == "layers" for layer in c["layers"]}
    assert installed == set(CONFIG["root_packages"]) == layered


def test_the_copied_tree_keeps_the_contracts(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "injected", "contract"),
    [
        ("tike/events.py", "import tike_core.decode", "Layers"),
        ("tike_core/decode.py", "import streams.kafka_log", "Layers"),
        ("streams/outbox.py", "import gateway.store", "Layers"),
        ("rules/model.py", "import aiokafka", "do no I/O"),
    ],
)
def test_a_back_pointing_import_breaks_the_contract(
    tree: Path, module: str, injected: str, contract: str
) -> None:
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{injected}  # injected by tests/test_layers.py\n")
    try:
        result = lint_imports(tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
