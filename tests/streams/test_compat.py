"""The consumer seam (streams/compat.py): every library internal it uses still exists, it is
the only module that uses them, and the worker refuses unverified library versions."""

from __future__ import annotations

import ast
import importlib.metadata
from collections.abc import Callable
from pathlib import Path

import pytest

from streams import compat, worker
from streams.compat import PRIVATE_NAMES, VERIFIED_VERSIONS, PrivateName, check_versions
from tike.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("entry", PRIVATE_NAMES, ids=lambda e: f"{e.module}:{e.name}")
def test_every_private_name_the_seam_uses_exists(entry: PrivateName) -> None:
    assert entry.library in VERIFIED_VERSIONS
    compat.resolve(entry)  # raises AttributeError when the library no longer has it


def test_a_vanished_name_is_caught() -> None:
    gone = PrivateName("aiokafka", "aiokafka.consumer.fetcher", "Fetcher._gone", True)
    with pytest.raises(AttributeError):
        compat.resolve(gone)
    with pytest.raises(AttributeError):
        compat.resolve(PrivateName("faust-streaming", "faust.types.tuples", "no_such_lock"))


def _private_attributes(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    }


def test_the_seam_lists_every_private_name_it_touches() -> None:
    listed = {entry.name.rsplit(".", 1)[-1] for entry in PRIVATE_NAMES}
    own = {"_getall", "_with_spans", "_seek_committed_or_start", "_set_fetch_wait"}  # compat's own
    touched = _private_attributes(ROOT / "streams" / "compat.py")
    assert touched - listed - own == set()


@pytest.mark.parametrize(
    "module", ["offsets.py", "transport.py", "consumer_trace.py"], ids=lambda m: m
)
def test_no_other_consumer_module_touches_a_library_internal(module: str) -> None:
    listed = {entry.name.rsplit(".", 1)[-1] for entry in PRIVATE_NAMES if "_" in entry.name}
    touched = _private_attributes(ROOT / "streams" / module)
    faust_hooks = {"_new_offset", "_commit_offsets", "_wait_next_records", "_add_gap"}
    assert touched & (listed | faust_hooks) == set()


def test_the_offset_bookkeeping_imports_no_library() -> None:
    tree = ast.parse((ROOT / "streams" / "offsets.py").read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"faust", "mode", "aiokafka"}}


def test_the_installed_libraries_are_the_verified_ones() -> None:
    assert compat.unverified_versions() == []
    assert check_versions(allow=False) is None


def _installed(**versions: str) -> Callable[[str], str]:
    def version(dist: str) -> str:
        if dist in versions:
            return versions[dist]
        raise importlib.metadata.PackageNotFoundError(dist)

    return version


def test_an_unverified_version_refuses_to_start_naming_versions_and_override() -> None:
    version = _installed(**{"faust-streaming": "0.16.0", "aiokafka": "0.14.0"})
    refused = check_versions(allow=False, version=version)
    assert refused is not None
    assert "faust-streaming 0.16.0 (verified: 0.15.3)" in refused
    assert "mode-streaming (not installed) (verified: 0.7.1)" in refused
    assert "aiokafka" not in refused.split("installed:")[1]  # 0.14.0 is the verified one
    assert "TIKE_ALLOW_UNVERIFIED_LIBRARIES=true" in refused


def test_the_override_allows_an_unverified_version(caplog: pytest.LogCaptureFixture) -> None:
    version = _installed(**{"faust-streaming": "0.16.0"})
    assert check_versions(allow=True, version=version) is None
    assert "not verified" in caplog.text


def test_the_worker_refuses_to_start_on_unverified_versions(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed = importlib.metadata.version("aiokafka")
    monkeypatch.setattr(compat, "VERIFIED_VERSIONS", {"aiokafka": "0.0.1"})
    settings = WorkerSettings(kafka_bootstrap="127.0.0.1:9", state_dir=tmp_path)
    assert worker.run(settings) == 2  # before it waits for the (absent) broker
    err = capsys.readouterr().err
    assert f"aiokafka {installed} (verified: 0.0.1)" in err
    assert "TIKE_ALLOW_UNVERIFIED_LIBRARIES" in err
