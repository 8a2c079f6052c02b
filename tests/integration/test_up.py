"""`tike up` as a user runs it: one command, everything starts, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tike import topics
from tike.examples import example
from tike_cli.harness import Collector, clean_env, interrupt, producer, stack_ports


def _children(pid: int) -> set[int]:
    """All descendants of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _env(tmp: Path) -> dict[str, str]:
    env = stack_ports(clean_env())
    env.update(
        TIKE_TOPIC_PARTITIONS="4",
        TIKE_STATE_DIR=str(tmp / "state"),
    )
    return env


def _start(tmp: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tike_cli", "up", "--simulate"],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_up(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Stop with Ctrl-C" in line:
            return "".join(lines)
    raise AssertionError("tike up did not come up:\n" + "".join(lines))


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env = _env(tmp_path)
    proc = _start(tmp_path, env)
    yield proc, env
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_up_starts_everything_and_ctrl_c_leaves_no_orphans(up, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc, env = up
    table = _wait_up(proc)
    for name in ("broker", "redis", "worker", "gateway", "simulator"):
        assert name in table
    assert f"127.0.0.1:{env['TIKE_EMBEDDED_KAFKA_PORT']}" in table
    assert f"http://127.0.0.1:{env['TIKE_GATEWAY_PORT']}" in table
    with urllib.request.urlopen(
        f"http://127.0.0.1:{env['TIKE_GATEWAY_PORT']}/healthz", timeout=5
    ) as r:
        assert orjson.loads(r.read())["redis"] is True
    bootstrap = f"127.0.0.1:{env['TIKE_EMBEDDED_KAFKA_PORT']}"

    async def alarm_to_need() -> None:
        needs = await Collector(bootstrap, topics.NEEDS).start()
        prod = await producer(bootstrap)
        alarm = example("safety_alarm")
        await prod.send_and_wait(topics.ALARMS, alarm.model_dump_json().encode())
        await needs.wait(lambda n: n["origin"]["event_id"] == alarm.event_id, timeout=30)
        await prod.stop()
        await needs.stop()

    asyncio.run(alarm_to_need())
    children = _children(proc.pid)
    assert len(children) >= 5
    proc.send_signal(signal.SIGINT)
    assert proc.wait(40) == 0
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if _alive(p)], "orphans left behind"
    assert (tmp_path / ".tike" / "logs" / "worker.log").is_file()


def test_a_second_stack_in_the_same_run_directory_is_refused(up, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc, env = up
    _wait_up(proc)
    second = subprocess.run(
        [sys.executable, "-m", "tike_cli", "up"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2
    assert f"another `tike up` (pid {proc.pid}) is running" in second.stderr
    assert "TIKE_RUN_DIR" in second.stderr
    assert proc.poll() is None  # the first stack runs on
    assert (tmp_path / ".tike" / "up.lock").read_text().split()[0] == str(proc.pid)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(40) == 0


def test_children_die_when_tike_up_is_killed(up) -> None:  # type: ignore[no-untyped-def]
    proc, _ = up
    _wait_up(proc)
    children = _children(proc.pid)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if _alive(p)], "orphans left behind"


def test_taken_port_is_named_with_its_setting(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env["TIKE_GATEWAY_PORT"] = str(port)
        result = subprocess.run(
            [sys.executable, "-m", "tike_cli", "up"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "TIKE_GATEWAY_PORT" in result.stderr


def _links(table: str) -> dict[str, str]:
    """The sign-in links `tike up` printed, by label."""
    found = re.findall(r"^  (Board|Team view|Rules editor) +(http://\S+)$", table, re.MULTILINE)
    return dict(found)


def test_make_run_shows_a_living_region_within_30_s(tmp_path: Path) -> None:
    """`make run` is `tike up --simulate` with no settings: within 30 s of the command the
    board has open or dispatched needs and a KPI strip, and the printed links sign in."""
    env = stack_ports(clean_env())
    started = time.monotonic()
    proc = _start(tmp_path, env)
    try:
        table = _wait_up(proc)
        assert "scenario demo, clock x10, teams answering, synthetic data" in table
        links = _links(table)
        assert set(links) == {"Board", "Team view", "Rules editor"}, table
        port = env["TIKE_GATEWAY_PORT"]
        for label, path, role in (
            ("Board", "/", "control_room"),
            ("Team view", "/team.html", "team:sim-home-care-1"),
            ("Rules editor", "/rules.html", "operator"),
        ):
            url = links[label]
            assert url.startswith(f"http://127.0.0.1:{port}{path}#token=")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/me",
                headers={"Authorization": f"Bearer {url.split('#token=')[1]}"},
            )
            with urllib.request.urlopen(request, timeout=5) as r:
                assert orjson.loads(r.read())["role"] == role
        board_token = links["Board"].split("#token=")[1]
        ws_url = f"ws://127.0.0.1:{port}/ws/board?token={board_token}"
        seen = asyncio.run(_watch_board(ws_url, deadline=started + 30))
        assert seen["open"] >= 5, seen
        assert seen["kpi_needs"] > 0, seen
        assert seen["synthetic_only"], seen
    finally:
        interrupt(proc)


async def _watch_board(url: str, deadline: float) -> dict[str, Any]:
    """Board items until 5 open needs and a KPI strip with needs, or the deadline."""
    from websockets.asyncio.client import connect

    items: dict[tuple[str, str], dict[str, Any]] = {}

    def summary() -> dict[str, Any]:
        needs = [i["data"] for (entity, _), i in items.items() if entity == "need"]
        kpis = [i["data"] for (entity, _), i in items.items() if entity == "kpi"]
        return {
            "open": sum(1 for n in needs if n["status"] == "open"),
            "phases": sorted({n["phase"] for n in needs}),
            "kpi_needs": max((k["24h"]["needs"] for k in kpis), default=0),
            "synthetic_only": bool(needs) and all(n["synthetic"] for n in needs),
            "seconds_left": round(deadline - time.monotonic(), 1),
        }

    async with connect(url, max_size=None) as ws:
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            frame = orjson.loads(raw)
            if frame.get("type") == "snapshot":
                items.clear()
            for item in frame.get("items") or ():
                key = (item["entity"], item["id"])
                if item.get("op") == "remove":
                    items.pop(key, None)
                else:
                    items[key] = item
            seen = summary()
            if seen["open"] >= 5 and seen["kpi_needs"] > 0:
                return seen
    return summary()
