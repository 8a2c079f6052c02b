"""The what-if report: every board KPI for the baseline and the variant, side by side and as
differences, each difference traced to the needs it concerns; by hour, by municipality, day
and night; as JSON and as an HTML page with inline SVG plots (no scripts, no CDN).

KPI definitions are the board's (``tike_core.situation.kpi``), over the whole replay:

- ``resolved_at_home``, ``sent_to_ed``, ``ambulance`` (an ``ambulance`` outcome or an
  ``ambulance_emergency`` need), ``share_at_home``, ``avoided_transports`` (transport requests
  resolved at home): closed needs;
- ``offer_to_accept`` and ``accept_to_on_site``: median and p90 in seconds, over each need's
  last dispatch (the board's definition: an expired or declined offer restarts the clock);
- ``needs`` and ``by_service``, ``calls_116117``, ``open`` and ``overdue`` (at the end).

And what a what-if adds:

- ``first_offer_to_accept``: from a need's first offer to its acceptance; a need that was
  offered or escalated and never accepted counts as never (longer than any), so the median
  shows how long needs waited for a team, escalations included;
- ``escalations`` (needs escalated to the control room at least once), ``overdue`` as needs
  ever past their SLA, and team utilisation (accepted-task time over on-duty time) by hour.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from simulators.whatif.replay import RunResult
from tike.regions import Registry

AT_HOME = "resolved_at_home"
#: Local hours counted as night (the default ruleset's night rules: 22:00-07:00).
NIGHT = frozenset({22, 23, 0, 1, 2, 3, 4, 5, 6})
#: Count KPIs: (key, the need fact that counts).
COUNTS = (
    "needs",
    "resolved_at_home",
    "sent_to_ed",
    "ambulance",
    "avoided_transports",
    "escalations",
    "overdue",
    "open",
)
DURATIONS = ("offer_to_accept", "accept_to_on_site", "first_offer_to_accept")
#: Every KPI key the report carries (the UI labels each: ui_static/i18n/labels.json).
KPI_KEYS = (*COUNTS, "share_at_home", "calls_116117", *DURATIONS, "utilisation")
LIMITS = (
    "Travel: distances are great-circle × 1.3 at 60 km/h from the team's base (the router's "
    "estimate and the responder model's), not real roads, weather or traffic; a team returns "
    "to its base between tasks.",
    "Human judgement: the teams' answers come from the seeded responder model "
    "(simulators/responders.py), not from people; the control room does nothing with an "
    "escalated need, so it stays open and may become overdue, where a coordinator would act.",
    "Needs a different answer would have changed are not modelled: the recording's needs come "
    "as they came (a faster visit does not prevent a later alarm or call from the same client, "
    "and a transport avoided in one run is not taken back in the other).",
    "Recorded team actions and control-room actions are not replayed; team breaks and "
    "self-reported busy states are not modelled (a team on duty is available unless its tasks "
    "fill its capacity).",
    "Outcomes (resolved at home, ED, ambulance) are drawn by the responder model per dispatch; "
    "where the runs give a need to different teams or at a different attempt, its outcome can "
    "differ by chance, not because of the change. Differences are traced to needs so that each "
    "one can be checked.",
)


def _at(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _secs(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (_at(b) - _at(a)).total_seconds()


def facts(r: RunResult) -> dict[str, dict[str, Any]]:
    """What each need contributes to the KPIs in one run."""
    out = {}
    for need_id, n in r.needs.items():
        d = n.get("dispatch") or {}
        closed = n["status"] != "open"
        outcome = n.get("outcome") if closed else None
        accepted = d.get("accepted_at")
        offers = [e[0] for e in n["timeline"] if e[1] == "offered"]
        first = _secs(offers[0], accepted) if offers and accepted else None
        if first is None and (need_id in r.escalated or n.get("attempts")):
            first = math.inf
        service = n.get("service") or "control_room"
        out[need_id] = {
            "municipality": n["municipality"],
            "source": n["source"],
            "received_at": n["received_at"],
            "route": r.routes.get(need_id),
            "service": service,
            "team": d.get("team_id") if accepted else None,
            "offers": r.offers.get(need_id, 0),
            "outcome": outcome,
            "needs": True,
            "resolved_at_home": closed and outcome == AT_HOME,
            "sent_to_ed": closed and outcome == "emergency_department",
            "ambulance": closed and (outcome == "ambulance" or service == "ambulance_emergency"),
            "avoided_transports": closed
            and n["source"] == "transport_request"
            and outcome == AT_HOME,
            "escalations": need_id in r.escalated,
            "overdue": bool(n["overdue"]),
            "open": not closed,
            "offer_to_accept": _secs(d.get("offered_at"), accepted),
            "accept_to_on_site": _secs(accepted, d.get("on_site_at")),
            "first_offer_to_accept": first,
        }
    return out


def _pct(values: list[float], q: float) -> float | None:
    """The board's percentile (tike_core.situation.kpi._pct); None if empty or never."""
    if not values:
        return None
    ordered = sorted(values)
    v = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return None if math.isinf(v) else round(v, 1)


def _kpis(fs: Iterable[dict[str, Any]], calls: int | None = None) -> dict[str, Any]:
    fs = list(fs)
    out: dict[str, Any] = {k: sum(1 for f in fs if f[k]) for k in COUNTS}
    decided = out["resolved_at_home"] + out["sent_to_ed"] + out["ambulance"]
    out["share_at_home"] = round(out["resolved_at_home"] / decided, 3) if decided else None
    if calls is not None:
        out["calls_116117"] = calls
    for k in DURATIONS:
        vals = [f[k] for f in fs if f[k] is not None]
        out[k] = {
            "median_s": _pct(vals, 0.5),
            "p90_s": _pct(vals, 0.9),
            "n": len(vals),
            "never": sum(1 for v in vals if math.isinf(v)),
        }
    out["by_service"] = dict(sorted(Counter(f["service"] for f in fs).items()))
    return out


def _diff(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _diff(a.get(k), b.get(k)) for k in sorted(set(a) | set(b))}
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return round(b - a, 3)
    if a is None and isinstance(b, int) and not isinstance(b, bool):
        return b
    if b is None and isinstance(a, int) and not isinstance(a, bool):
        return -a
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) < 0.5
    return bool(a == b)


def _busy_share(r: RunResult, tz: ZoneInfo, teams: set[str]) -> list[float | None]:
    """Accepted-task seconds over on-duty seconds, by local hour of day."""
    duty: Counter[int] = Counter()
    busy: Counter[int] = Counter()

    def spread(a: datetime, b: datetime, into: Counter[int]) -> None:
        t = a
        while t < b:
            local = t.astimezone(tz)
            nxt = local.replace(minute=0, second=0, microsecond=0).timestamp() + 3600
            step_end = min(b.timestamp(), nxt)
            into[local.hour] += int(step_end - t.timestamp())
            t = datetime.fromtimestamp(step_end, a.tzinfo)

    for team_id in teams:
        for a, b in r.duty.get(team_id, ()):
            spread(max(a, r.start), min(b, r.end), duty)
        for a, b in r.busy.get(team_id, ()):
            spread(max(a, r.start), min(b, r.end), busy)
    return [(round(min(busy[h], duty[h]) / duty[h], 3) if duty[h] else None) for h in range(24)]


def build_report(
    base: RunResult,
    var: RunResult,
    registry: Registry,
    recording: dict[str, Any] | None = None,
    seed: int | None = None,
    trace_limit: int = 500,
) -> dict[str, Any]:
    region = base.config.get("region") or next(iter(registry.regions))
    tz = ZoneInfo(registry.region(region).timezone)
    fb, fv = facts(base), facts(var)
    ids = sorted(set(fb) | set(fv), key=lambda i: ((fb.get(i) or fv[i])["received_at"], i))

    def hour(i: str) -> int:
        return _at((fb.get(i) or fv[i])["received_at"]).astimezone(tz).hour

    def side(
        fs: dict[str, dict[str, Any]],
        r: RunResult,
        keep: Callable[[str], bool],
        calls: Callable[[str, str], bool],
    ) -> dict[str, Any]:
        return _kpis(
            (f for i, f in fs.items() if keep(i)), sum(1 for at, m in r.calls if calls(at, m))
        )

    def pair(keep: Callable[[str], bool], calls: Callable[[str, str], bool]) -> dict[str, Any]:
        b, v = side(fb, base, keep, calls), side(fv, var, keep, calls)
        return {"baseline": b, "variant": v, "difference": _diff(b, v)}

    def local_hour(at: str) -> int:
        return _at(at).astimezone(tz).hour

    everything = pair(lambda i: True, lambda at, m: True)
    # Traces: the needs behind each KPI's difference.
    traced: dict[str, list[str]] = {}
    changed: dict[str, list[str]] = {}
    for i in ids:
        a, b = fb.get(i), fv.get(i)
        for k in (*COUNTS, *DURATIONS, "service"):
            va, vb = (a or {}).get(k), (b or {}).get(k)
            if not _same(va, vb):
                traced.setdefault(k, []).append(i)
                changed.setdefault(i, []).append(k)
    all_teams = set(base.teams) | set(var.teams)
    services = sorted(set(base.teams.values()) | set(var.teams.values()))
    util = {}
    for svc in [None, *services]:
        bt = {t for t, s in base.teams.items() if svc is None or s == svc}
        vt = {t for t, s in var.teams.items() if svc is None or s == svc}
        util[svc or "all"] = {
            "baseline": _busy_share(base, tz, bt or set()),
            "variant": _busy_share(var, tz, vt or set()),
        }
    del all_teams
    kpis = {
        k: {
            "baseline": everything["baseline"].get(k),
            "variant": everything["variant"].get(k),
            "difference": everything["difference"].get(k),
            "needs": traced.get(k, [])[:trace_limit],
            "needs_total": len(traced.get(k, [])),
        }
        for k in (*COUNTS, "share_at_home", "calls_116117", *DURATIONS, "by_service")
    }
    kpis["by_service"]["needs"] = traced.get("service", [])[:trace_limit]
    kpis["by_service"]["needs_total"] = len(traced.get("service", []))
    kpis["utilisation"] = {
        "baseline": _mean(util["all"]["baseline"]),
        "variant": _mean(util["all"]["variant"]),
        "difference": _diff(_mean(util["all"]["baseline"]), _mean(util["all"]["variant"])),
        "needs": [],
        "needs_total": 0,
    }

    def is_night(i: str) -> bool:
        return hour(i) in NIGHT

    def call_at_night(at: str, m: str) -> bool:
        return local_hour(at) in NIGHT

    def in_hour(h: int) -> dict[str, Any]:
        return pair(lambda i: hour(i) == h, lambda at, m: local_hour(at) == h)

    def in_muni(code: str) -> dict[str, Any]:
        return pair(lambda i: (fb.get(i) or fv[i])["municipality"] == code, lambda at, m: m == code)

    periods = {
        "day": pair(lambda i: not is_night(i), lambda at, m: not call_at_night(at, m)),
        "night": pair(is_night, call_at_night),
    }
    by_hour = [
        {
            "hour": h,
            **in_hour(h),
            "utilisation": {
                "baseline": util["all"]["baseline"][h],
                "variant": util["all"]["variant"][h],
            },
        }
        for h in range(24)
    ]
    munis = sorted({(fb.get(i) or fv[i])["municipality"] for i in ids})
    by_muni = {m: in_muni(m) for m in munis}
    names = {m.code: m.name_fi for m in registry.municipalities.values()}

    def brief(f: dict[str, Any] | None) -> dict[str, Any] | None:
        if f is None:
            return None
        keep = (
            "route",
            "team",
            "offers",
            "outcome",
            "escalations",
            "overdue",
            "open",
            "offer_to_accept",
            "accept_to_on_site",
            "first_offer_to_accept",
        )
        return {k: (None if isinstance(f[k], float) and math.isinf(f[k]) else f[k]) for k in keep}

    trace = [
        {
            "need_id": i,
            "municipality": (fb.get(i) or fv[i])["municipality"],
            "source": (fb.get(i) or fv[i])["source"],
            "received_at": (fb.get(i) or fv[i])["received_at"],
            "kpis": changed[i],
            "baseline": brief(fb.get(i)),
            "variant": brief(fv.get(i)),
        }
        for i in ids
        if i in changed
    ]
    route_changes = [
        i for i in ids if (fb.get(i) or {}).get("route") != (fv.get(i) or {}).get("route")
    ]
    return {
        "kind": "whatif_report",
        "version": 1,
        "region": region,
        "timezone": str(tz),
        "seed": seed,
        "recording": {
            **(recording or {}),
            "start": base.start.isoformat(),
            "end": base.end.isoformat(),
            "drained_to": base.drained_to.isoformat(),
        },
        "baseline": {**base.config, "counts": base.counts},
        "variant": {**var.config, "counts": var.counts},
        "kpis": kpis,
        "periods": periods,
        "night_hours": sorted(NIGHT),
        "by_hour": by_hour,
        "by_municipality": {m: {"name": names.get(m, m), **v} for m, v in by_muni.items()},
        "utilisation_by_hour": util,
        "route_changes": route_changes,
        "changed_needs": trace[:trace_limit],
        "changed_needs_total": len(trace),
        "limits": list(LIMITS),
    }


def _mean(by_hour: list[float | None]) -> float | None:
    vals = [v for v in by_hour if v is not None]
    return round(sum(vals) / len(vals), 3) if vals else None


# --- HTML ------------------------------------------------------------------------------------

COLOURS = {"baseline": "#5b7083", "variant": "#d9822b"}


def _svg_bars(
    title: str, cats: list[str], series: dict[str, list[float | None]], unit: str = ""
) -> str:
    w, h, pad, top = 760, 220, 40, 24
    vals = [v for s in series.values() for v in s if v is not None]
    vmax = max(vals) if vals and max(vals) > 0 else 1.0
    n, k = len(cats), len(series)
    slot = (w - pad - 10) / max(n, 1)
    bw = max(1.0, slot / (k + 1))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 40}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{pad}" y1="{top + h - 20}" x2="{w - 10}" y2="{top + h - 20}" stroke="#999"/>',
        f'<text x="4" y="{top + 10}" font-size="10">{vmax:g}{unit}</text>',
    ]
    for j, (name, values) in enumerate(series.items()):
        for i, v in enumerate(values):
            if v is None:
                continue
            bh = (h - 40) * v / vmax
            x = pad + i * slot + j * bw
            y = top + h - 20 - bh
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                f'fill="{COLOURS.get(name, "#888")}"><title>{html.escape(cats[i])} '
                f"{name}: {v:g}{unit}</title></rect>"
            )
    for i, c in enumerate(cats):
        x = pad + i * slot + slot / 2 - bw / 2
        out.append(
            f'<text x="{x:.1f}" y="{top + h - 6}" font-size="9" text-anchor="middle" '
            f'transform="rotate(-35 {x:.1f} {top + h - 6})">{html.escape(c)}</text>'
        )
    for j, name in enumerate(series):
        out.append(
            f'<rect x="{w - 170 + j * 80}" y="6" width="10" height="10" '
            f'fill="{COLOURS.get(name, "#888")}"/><text x="{w - 156 + j * 80}" y="15" '
            f'font-size="11">{name}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, dict):
        if "median_s" in v:
            return f"median {_fmt(v['median_s'])} s, p90 {_fmt(v['p90_s'])} s (n {v['n']})"
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:g}"
    return html.escape(str(v))


def render_html(report: dict[str, Any]) -> str:
    e = html.escape
    b, v = report["baseline"], report["variant"]
    rows = []
    for k, x in report["kpis"].items():
        ids = x["needs"]
        more = f" … and {x['needs_total'] - len(ids)} more" if x["needs_total"] > len(ids) else ""
        traced = (
            (
                f"<details><summary>{x['needs_total']} needs</summary>"
                f"<code>{e(' '.join(ids))}</code>{more}</details>"
            )
            if ids
            else ""
        )
        rows.append(
            f"<tr><th>{e(k)}</th><td>{_fmt(x['baseline'])}</td><td>{_fmt(x['variant'])}"
            f"</td><td>{_fmt(x['difference'])}</td><td>{traced}</td></tr>"
        )
    hours = [f"{h['hour']:02d}" for h in report["by_hour"]]

    def series(
        path: Callable[[dict[str, Any]], Any], items: list[dict[str, Any]]
    ) -> dict[str, list[Any]]:
        return {s: [path(it[s]) for it in items] for s in ("baseline", "variant")}

    def med(k: str) -> Callable[[dict[str, Any]], Any]:
        return lambda side: side[k]["median_s"]

    bh = report["by_hour"]
    munis = list(report["by_municipality"].values())
    plots = [
        _svg_bars("Needs by hour", hours, series(lambda s: s["needs"], bh)),
        _svg_bars("Escalations by hour", hours, series(lambda s: s["escalations"], bh)),
        _svg_bars(
            "First offer → accept, median by hour",
            hours,
            series(med("first_offer_to_accept"), bh),
            " s",
        ),
        _svg_bars(
            "Offer → accept (board), median by hour",
            hours,
            series(med("offer_to_accept"), bh),
            " s",
        ),
        _svg_bars(
            "Team utilisation by hour",
            hours,
            {s: [h["utilisation"][s] for h in bh] for s in ("baseline", "variant")},
        ),
        _svg_bars(
            "Escalations by municipality",
            [m["name"] for m in munis],
            series(lambda s: s["escalations"], munis),
        ),
        _svg_bars(
            "Resolved at home by municipality",
            [m["name"] for m in munis],
            series(lambda s: s["resolved_at_home"], munis),
        ),
    ]
    period_rows = []
    for name, p in report["periods"].items():
        for k in (
            "needs",
            "escalations",
            "overdue",
            "resolved_at_home",
            "first_offer_to_accept",
            "offer_to_accept",
            "accept_to_on_site",
        ):
            period_rows.append(
                f"<tr><th>{e(name)}</th><td>{e(k)}</td><td>{_fmt(p['baseline'][k])}"
                f"</td><td>{_fmt(p['variant'][k])}</td></tr>"
            )
    changed = "".join(
        f"<tr><td><code>{e(c['need_id'])}</code></td><td>{e(c['municipality'])}</td>"
        f"<td>{e(c['source'])}</td><td>{e(', '.join(c['kpis']))}</td>"
        f"<td>{_brief(c['baseline'])}</td><td>{_brief(c['variant'])}</td></tr>"
        for c in report["changed_needs"][:300]
    )
    limits = "".join(f"<li>{e(x)}</li>" for x in report["limits"])
    rec = report["recording"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tike what-if: {e(v["roster"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1100px}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:3px 6px;
text-align:left;vertical-align:top;font-size:13px}}code{{font-size:11px}}</style></head><body>
<h1>What-if: baseline vs variant</h1>
<p>Recording {e(rec["start"])} – {e(rec["end"])} (replayed on to {e(rec["drained_to"])}),
region {e(report["region"])}, seed {e(str(report["seed"]))}.</p>
<table><tr><th></th><th>baseline</th><th>variant</th></tr>
<tr><th>ruleset</th><td>{e(b["ruleset"])}</td><td>{e(v["ruleset"])}</td></tr>
<tr><th>roster</th><td>{e(b["roster"])} ({b["teams"]} teams)</td>
<td>{e(v["roster"])} ({v["teams"]} teams)</td></tr>
<tr><th>offer time-outs (s)</th><td>{_fmt(b["offer_timeouts_s"])}</td>
<td>{_fmt(v["offer_timeouts_s"])}</td></tr></table>
<h2>KPIs</h2><table><tr><th>KPI</th><th>baseline</th><th>variant</th><th>difference</th>
<th>needs behind the difference</th></tr>{"".join(rows)}</table>
<h2>Day and night (night: local {", ".join(str(h) for h in report["night_hours"])})</h2>
<table><tr><th>period</th><th>KPI</th><th>baseline</th><th>variant</th></tr>
{"".join(period_rows)}</table>
<h2>Plots</h2>{"".join(plots)}
<h2>Needs that differ ({report["changed_needs_total"]})</h2>
<table><tr><th>need</th><th>municipality</th><th>source</th><th>KPIs</th><th>baseline</th>
<th>variant</th></tr>{changed}</table>
<h2>What this model cannot know</h2><ul>{limits}</ul>
<p>Method: docs/whatif.md.</p></body></html>
"""


def _brief(b: dict[str, Any] | None) -> str:
    if b is None:
        return "–"
    route = b.get("route") or {}
    acc = b.get("first_offer_to_accept")
    parts = [
        f"{route.get('rule')} → {route.get('service')}/{route.get('priority')}",
        f"team {b.get('team') or '–'}",
        f"offers {b.get('offers')}",
        "escalated" if b.get("escalations") else "",
        "overdue" if b.get("overdue") else "",
        f"outcome {b.get('outcome') or 'open'}",
        f"first offer→accept {acc:.0f} s" if isinstance(acc, float) else "",
    ]
    return html.escape(", ".join(p for p in parts if p))
