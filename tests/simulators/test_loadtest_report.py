"""The load test's report: fresh seeds, and the inline SVG panels of latency over time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

from simulators.basic import BasicSimulator
from simulators.loadtest import NEED_ID, fresh_seed, write_report
from simulators.plot import PATHS, buckets, latency_panels, nice_step, ticks
from tike.regions import load_registry

REGION = load_registry().region("etela-pohjanmaa")
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def _ids(seed: int) -> set[str]:
    sim = BasicSimulator(REGION, seed=seed, rate=50, start=START)
    out = set()
    for _, (_, _, event) in sim.events_until(600):
        out.add(event.event_id)
        need = NEED_ID.get(str(getattr(event, "kind", "")), lambda e: None)(event)
        if need is not None:
            out.add(need)
    return out


def test_fresh_seeds_differ_and_give_different_event_and_need_ids() -> None:
    seeds = {fresh_seed() for _ in range(20)}
    assert len(seeds) == 20
    a, b = sorted(seeds)[:2]
    first, second = _ids(a), _ids(b)
    assert first and second and not first & second
    assert _ids(a) == first  # a named seed repeats its run


def test_ticks_are_round_and_cover_the_top() -> None:
    assert nice_step(100) == 20 and nice_step(6) == 1 and nice_step(7) == 2
    assert ticks(95) == [0, 20, 40, 60, 80, 100]
    assert ticks(100) == [0, 20, 40, 60, 80, 100]
    assert ticks(0.0)[0] == 0 and len(ticks(0.0)) >= 2


def test_buckets_give_p50_p90_p99_per_time_bucket() -> None:
    samples = [(0.5, float(ms)) for ms in range(1, 101)] + [(25.0, 7.0)]
    rows = buckets(samples, t_max=30)
    assert rows[0][1:] == (51.0, 91.0, 100.0, 100)
    assert rows[-1][1:] == (7.0, 7.0, 7.0, 1)


def _panels(timeline: list[tuple[float, float, str]]) -> list[ElementTree.Element]:
    html = latency_panels(timeline)
    return [ElementTree.fromstring(s) for s in re.findall(r"<svg.*?</svg>", html, re.S)]


def test_one_panel_per_path_with_ticks_units_zero_line_and_legend() -> None:
    timeline = [(t / 10, 40 + t % 17, "board") for t in range(300)]
    timeline += [(t / 10, 60 + t % 23, "team") for t in range(0, 300, 3)]
    panels = _panels(timeline)
    assert [p.get("data-path") for p in panels] == list(PATHS)
    for svg in panels:
        classes = [el.get("class") or "" for el in svg.iter()]
        texts = " ".join(el.text or "" for el in svg.iter(f"{SVG}text"))
        assert sum(c == "tick x" for c in classes) >= 4
        assert sum(c == "tick y" for c in classes) >= 3
        assert classes.count("zero") == 1
        assert "time into the run (s)" in texts and "latency (ms)" in texts
        legend = [
            " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
            for g in svg.iter(f"{SVG}g")
            if g.get("class") == "legend"
        ]
        assert legend == ["p50", "p50–p90", "p90–p99", "sample"]
        assert classes.count("p50") >= 1 and "band p90" in classes and "band p99" in classes
    board, team = panels
    assert sum(el.get("class") == "sample" for el in board.iter()) == 300
    assert sum(el.get("class") == "sample" for el in team.iter()) == 100

    # Both panels share the latency scale: the same y tick labels.
    def y_labels(svg: ElementTree.Element) -> list[str]:
        return [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"]

    assert y_labels(board) == y_labels(team)


def test_a_path_without_samples_still_gets_its_panel() -> None:
    panels = _panels([(1.0, 12.0, "board")])
    assert [p.get("data-path") for p in panels] == ["board", "team"]
    assert "no samples" in ElementTree.tostring(panels[1], encoding="unicode")


def test_the_report_names_the_seed(tmp_path: Path) -> None:
    result = {
        "scenario": "storm",
        "rate": 30,
        "seed": 123456789,
        "duration_s": 10.0,
        "produced": 5,
        "needs_sent": 1,
        "timeline": [(1.0, 50.0, "board"), (1.2, 70.0, "team")],
    }
    js, html = write_report(result, tmp_path)
    text = html.read_text()
    assert "seed 123456789" in text and "--seed 123456789" in text
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert text.count('class="panel"') == 2
    assert '"seed": 123456789' in js.read_text()


def test_needs_acked_during_the_warmup_are_reported_apart() -> None:
    import time

    from simulators.loadtest import Measure

    m = Measure()
    m.warmup_until = time.monotonic() + 60
    m.acked("warm-need")
    m.warmup_until = time.monotonic() - 1
    m.acked("steady-need")
    m.acked("warm-need")  # a second ack does not move a need out of the warm-up
    m.decided.update({"warm-need": 900.0, "steady-need": 40.0})
    assert m.warm == {"warm-need"}
    assert m.latencies(m.decided) == [40.0]
    assert m.latencies(m.decided, warm=True) == [900.0]
