"""Inline SVG plots of the load test's latency over time: no scripts, no external files.

One panel per latency path (event to board delta, event to team alert), all on the same
latency scale. Each panel shows, per time bucket, the median as a line and the p90 and p99 as
bands above it, the single samples as faint dots, axes with ticks and units, the zero line and
a legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

#: Latency paths in the order they are drawn, with their panel titles.
PATHS: dict[str, str] = {
    "board": "Event produced → need's delta on /ws/board",
    "team": "Event produced → dispatch offer on the team's /ws/teams/{id}",
}

WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 44, 44
COLOURS = {"board": "#0b5cad", "team": "#b3261e"}
FALLBACK = "#555555"

Point = Sequence[object]  # (seconds into the run, latency ms, path)


def nice_step(span: float, target: int = 6) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving about ``target`` ticks."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return float(mult * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def ticks(top: float, target: int = 6) -> list[float]:
    """Tick values from 0 up to and including the first tick at or above ``top``."""
    step = nice_step(top, target)
    count = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 10) for i in range(count + 1)]


def _fmt(value: float) -> str:
    return f"{value:g}" if value < 1e5 else f"{value:.0f}"


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def buckets(
    samples: list[tuple[float, float]], t_max: float, target: int = 30
) -> list[tuple[float, float, float, float, int]]:
    """``(bucket centre s, p50, p90, p99, n)`` of the non-empty time buckets."""
    width = nice_step(t_max, target) if t_max > 0 else 1.0
    grouped: dict[int, list[float]] = {}
    for t, ms in samples:
        grouped.setdefault(int(t // width), []).append(ms)
    out = []
    for index in sorted(grouped):
        ordered = sorted(grouped[index])
        out.append(
            (
                (index + 0.5) * width,
                _pct(ordered, 0.5),
                _pct(ordered, 0.9),
                _pct(ordered, 0.99),
                len(ordered),
            )
        )
    return out


def _band(xs: list[float], low: list[float], high: list[float]) -> str:
    """A closed polygon between two lines (a single bucket becomes a short bar)."""
    if len(xs) == 1:
        xs = [xs[0] - 3, xs[0] + 3]
        low, high = low * 2, high * 2
    upper = [f"{x:.1f},{y:.1f}" for x, y in zip(xs, high, strict=True)]
    lower = [f"{x:.1f},{y:.1f}" for x, y in zip(reversed(xs), reversed(low), strict=True)]
    return " ".join(upper + lower)


def _runs(rows: list[tuple[float, float, float, float, int]], gap: float) -> list[list[tuple]]:
    """Split the buckets where one or more buckets in between had no samples."""
    runs: list[list[tuple]] = []
    for row in rows:
        if runs and row[0] - runs[-1][-1][0] <= gap * 1.01:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def panel(path: str, samples: list[tuple[float, float]], t_max: float, ms_max: float) -> str:
    """One ``<svg>`` panel: ``samples`` are ``(seconds into the run, latency ms)``."""
    colour = COLOURS.get(path, FALLBACK)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_ticks, y_ticks = ticks(t_max), ticks(ms_max, 5)
    x_top, y_top = x_ticks[-1], y_ticks[-1]

    def x(t: float) -> float:
        return LEFT + t / x_top * plot_w

    def y(ms: float) -> float:
        return TOP + plot_h - ms / y_top * plot_h

    title = PATHS.get(path, path)
    n = len(samples)
    width = nice_step(t_max, 30) if t_max > 0 else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="panel" data-path="{escape(path)}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="600">{escape(title)}'
        f' <tspan font-weight="400" fill="#555">({n} samples, {_fmt(width)} s buckets)</tspan>'
        "</text>",
    ]
    # Grid and ticks.
    for v in y_ticks:
        yy = y(v)
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + plot_w}" y2="{yy:.1f}" '
            f'stroke="#e3e6ea"/>'
        )
        parts.append(
            f'<line class="tick y" x1="{LEFT - 5}" y1="{yy:.1f}" x2="{LEFT}" y2="{yy:.1f}" '
            f'stroke="#333"/><text x="{LEFT - 8}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{_fmt(v)}</text>"
        )
    for v in x_ticks:
        xx = x(v)
        parts.append(
            f'<line class="tick x" x1="{xx:.1f}" y1="{TOP + plot_h}" x2="{xx:.1f}" '
            f'y2="{TOP + plot_h + 5}" stroke="#333"/><text x="{xx:.1f}" y="{TOP + plot_h + 18}" '
            f'text-anchor="middle">{_fmt(v)}</text>'
        )
    # Axes, the zero line and the units.
    parts.append(
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>'
    )
    parts.append(
        f'<line class="zero" x1="{LEFT}" y1="{y(0):.1f}" x2="{LEFT + plot_w}" y2="{y(0):.1f}" '
        f'stroke="#000" stroke-width="1.5"/>'
    )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"time into the run (s)</text>"
    )
    parts.append(
        f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"latency (ms)</text>"
    )
    # Data: bands, the median line, the samples.
    rows = buckets(samples, t_max)
    for run in _runs(rows, width):
        xs = [x(r[0]) for r in run]
        p50, p90, p99 = ([y(r[i]) for r in run] for i in (1, 2, 3))
        parts.append(
            f'<polygon class="band p99" points="{_band(xs, p90, p99)}" fill="{colour}" '
            f'fill-opacity="0.15"/>'
        )
        parts.append(
            f'<polygon class="band p90" points="{_band(xs, p50, p90)}" fill="{colour}" '
            f'fill-opacity="0.32"/>'
        )
        line = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, p50, strict=True))
        if len(run) == 1:
            line = f"{xs[0] - 3:.1f},{p50[0]:.1f} {xs[0] + 3:.1f},{p50[0]:.1f}"
        parts.append(
            f'<polyline class="p50" points="{line}" fill="none" stroke="{colour}" '
            f'stroke-width="2"/>'
        )
    parts.extend(
        f'<circle class="sample" cx="{x(t):.1f}" cy="{y(ms):.1f}" r="1.5" fill="{colour}" '
        f'fill-opacity="0.45"/>'
        for t, ms in samples
    )
    if not samples:
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
            f'fill="#555">no samples</text>'
        )
    # Legend, top right.
    lx, ly = LEFT + plot_w - 330, 30
    legend = [
        ("p50", f'<line x1="0" y1="0" x2="18" y2="0" stroke="{colour}" stroke-width="2"/>'),
        (
            "p50–p90",
            f'<rect x="0" y="-5" width="18" height="10" fill="{colour}" fill-opacity="0.32"/>',
        ),
        (
            "p90–p99",
            f'<rect x="0" y="-5" width="18" height="10" fill="{colour}" fill-opacity="0.15"/>',
        ),
        ("sample", f'<circle cx="9" cy="0" r="2" fill="{colour}" fill-opacity="0.45"/>'),
    ]
    for i, (label, mark) in enumerate(legend):
        parts.append(
            f'<g class="legend" transform="translate({lx + i * 84} {ly})">{mark}'
            f'<text x="23" y="4">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def latency_panels(timeline: Sequence[Point], paths: Sequence[str] = tuple(PATHS)) -> str:
    """One panel per path (every path in ``paths``, plus any other found in the timeline),
    on a shared latency scale and time axis."""
    by_path: dict[str, list[tuple[float, float]]] = {p: [] for p in paths}
    for point in timeline:
        t, ms, path = float(point[0]), float(point[1]), str(point[2])  # type: ignore[arg-type]
        by_path.setdefault(path, []).append((max(t, 0.0), max(ms, 0.0)))
    everything = [s for samples in by_path.values() for s in samples]
    t_max = max([t for t, _ in everything] + [1.0])
    ms_max = max([ms for _, ms in everything] + [1.0])
    return "\n".join(panel(p, samples, t_max, ms_max) for p, samples in by_path.items())
