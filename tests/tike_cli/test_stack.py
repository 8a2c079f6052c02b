"""The run directory of `tike up`: one running stack per directory, logs and state in it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from tike.settings import StackSettings, WorkerSettings
from tike_cli.stack import RunLock, Stack, StackLocked


def test_a_second_lock_on_the_same_directory_is_refused_with_the_holder_named(
    tmp_path: Path,
) -> None:
    first = RunLock.of(tmp_path / "run")
    first.acquire()
    try:
        with pytest.raises(StackLocked) as exc:
            RunLock.of(tmp_path / "run").acquire()
        message = str(exc.value)
        assert f"pid {os.getpid()}" in message
        assert str(tmp_path / "run") in message and "TIKE_RUN_DIR=<dir>" in message
        RunLock.of(tmp_path / "other").acquire()  # another directory is free
    finally:
        first.release()
    again = RunLock.of(tmp_path / "run")
    again.acquire()  # released: free again
    again.release()


def test_a_lock_file_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "up.lock"
    path.write_text("999999999\n")  # no such process: the lock file of a killed `tike up`
    lock = RunLock(path)
    lock.acquire()
    try:
        assert lock.holder() == os.getpid()
    finally:
        lock.release()


def test_a_lock_held_by_a_live_process_is_refused_until_it_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from tike_cli.stack import RunLock
            RunLock.of(Path({str(tmp_path)!r})).acquire()
            print("locked", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StackLocked, match=f"pid {holder.pid}"):
            RunLock.of(tmp_path).acquire()
    finally:
        holder.kill()  # SIGKILL: no clean-up, the pid stays in the file
        holder.wait(10)
    lock = RunLock.of(tmp_path)
    assert lock.holder() == holder.pid
    lock.acquire()
    lock.release()


def test_the_run_directory_holds_logs_and_state_unless_state_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TIKE_RUN_DIR", "TIKE_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert WorkerSettings().state_dir == Path(".tike/state")
    assert Stack(StackSettings()).logs == Path(".tike/logs")
    monkeypatch.setenv("TIKE_RUN_DIR", str(tmp_path / "b"))
    settings = StackSettings()
    assert settings.state_dir == tmp_path / "b" / "state"
    assert Stack(settings).logs == tmp_path / "b" / "logs"
    monkeypatch.setenv("TIKE_STATE_DIR", str(tmp_path / "elsewhere"))
    assert StackSettings().state_dir == tmp_path / "elsewhere"


def test_sign_in_links_only_in_dev_and_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.auth import verify
    from tike_cli.stack import DEMO_TEAM, sign_in_links

    for name in ("TIKE_ENV", "TIKE_GATEWAY_HOST", "TIKE_GATEWAY_PORT", "TIKE_SECRET"):
        monkeypatch.delenv(name, raising=False)
    links = dict(sign_in_links(StackSettings()))
    assert set(links) == {"Board", "Team view", "Rules editor"}
    roles = {}
    for label, url in links.items():
        assert url.startswith("http://127.0.0.1:8000/")
        roles[label] = verify("dev-secret", url.split("#token=")[1]).role
    assert roles == {
        "Board": "control_room",
        "Team view": f"team:{DEMO_TEAM}",
        "Rules editor": "operator",
    }
    monkeypatch.setenv("TIKE_GATEWAY_HOST", "0.0.0.0")
    with pytest.raises(ValidationError, match="placeholder"):
        StackSettings()  # the placeholder secret beyond loopback: refused outright
    monkeypatch.setenv("TIKE_SECRET", "a-real-dev-secret")
    assert sign_in_links(StackSettings()) == []
    monkeypatch.delenv("TIKE_SECRET")
    monkeypatch.setenv("TIKE_GATEWAY_HOST", "::1")
    assert sign_in_links(StackSettings())[0][1].startswith("http://[::1]:8000/#token=")
    monkeypatch.setenv("TIKE_ENV", "prod")
    monkeypatch.setenv("TIKE_SECRET", "a-real-secret-of-sufficient-length-0123456789")
    monkeypatch.setenv("TIKE_GATEWAY_HOST", "127.0.0.1")
    assert sign_in_links(StackSettings()) == []
