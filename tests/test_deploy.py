"""The deployment files (deploy/, docker-compose.yml, docs/operations.md) agree with the code.

No Docker engine here: the files are parsed and checked against the settings, the metric
definitions, the gateway's routes and each other.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from fastapi.routing import APIRoute
from prometheus_client.metrics import MetricWrapperBase

import gateway.metrics
import streams.metrics
from gateway import ws
from gateway.app import create_app
from gateway.deps import get_principal
from tike.records import NeedSource
from tike.settings import GatewaySettings
from tike.topics import TOPICS
from tike_core.situation.kpi import WINDOWS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


COMPOSE: dict[str, Any] = _yaml(ROOT / "docker-compose.yml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROMETHEUS: dict[str, Any] = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
DATASOURCES: dict[str, Any] = _yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
PROVIDERS: dict[str, Any] = _yaml(DEPLOY / "grafana/provisioning/dashboards/tike.yml")
DASHBOARD: dict[str, Any] = json.loads((DEPLOY / "grafana/dashboards/tike.json").read_text())
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def _env(service: str) -> dict[str, Any]:
    env = SERVICES[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return env


def _container_port(spec: str) -> int:
    """The container side of a compose short port spec (``[ip:][host:]container``)."""
    return int(str(spec).rsplit(":", 1)[-1].split("/")[0])


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return dict(deps)


# --- metric catalogue -------------------------------------------------------------------------

#: Series Prometheus itself adds to every scrape (not defined in Tike's code).
PROMETHEUS_SYNTHETIC = {"up"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def _catalogue() -> dict[str, tuple[str, str]]:
    """Every series name the worker and the gateway export: name -> (family, type)."""
    series: dict[str, tuple[str, str]] = {}
    for module in (streams.metrics, gateway.metrics):
        for obj in vars(module).values():
            if isinstance(obj, MetricWrapperBase):
                (family,) = obj.describe()
                for suffix in SUFFIXES[family.type]:
                    series[family.name + suffix] = (family.name, family.type)
    return series


SERIES = _catalogue()
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
PROMQL_WORDS |= {"group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels left out)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y)?\b", " ", e)  # numbers, durations
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        rest = e[m.end() :].lstrip()
        if rest.startswith("(") or m.group().lower() in PROMQL_WORDS:
            continue
        names.add(m.group())
    return names


def _targets() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", ()):
            yield panel, target


def test_promql_name_extraction_finds_metrics_and_nothing_else() -> None:
    expr = (
        'sum by (topic) (rate(tike_events_in_total{topic="tike.in.alarms"}[$__rate_interval])) '
        "and on (instance) (tike_gateway_projector_active == 1) or up offset 5m"
    )
    assert metric_names(expr) == {"tike_events_in_total", "tike_gateway_projector_active", "up"}
    assert metric_names("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))") == {
        "x_bucket"
    }


def test_the_catalogue_knows_suffixes() -> None:
    assert SERIES["tike_events_in_total"] == ("tike_events_in", "counter")
    assert SERIES["tike_decision_seconds_bucket"] == ("tike_decision_seconds", "histogram")
    assert SERIES["tike_gateway_ws_clients"] == ("tike_gateway_ws_clients", "gauge")
    assert "tike_events_in" not in SERIES  # a counter is exported with _total only
    assert "tike_decision_seconds" not in SERIES


# --- the dashboard ----------------------------------------------------------------------------

PANEL_TYPES = ("row", "stat", "text", "timeseries")
DS_REF = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"type": "string", "minLength": 1}},
}
DASHBOARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "time", "tags"],
    "properties": {
        "id": {"type": ["integer", "null"]},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36, "maximum": 41},
        "tags": {"type": "array", "items": {"type": "string"}},
        "time": {"type": "object", "required": ["from", "to"]},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "type": {"enum": list(PANEL_TYPES)},
                    "title": {"type": "string", "minLength": 1},
                    "gridPos": {
                        "type": "object",
                        "required": ["x", "y", "w", "h"],
                        "properties": {
                            "x": {"type": "integer", "minimum": 0, "maximum": 23},
                            "y": {"type": "integer", "minimum": 0},
                            "w": {"type": "integer", "minimum": 1, "maximum": 24},
                            "h": {"type": "integer", "minimum": 1},
                        },
                    },
                    "datasource": DS_REF,
                    "targets": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr", "datasource"],
                            "properties": {
                                "refId": {"type": "string", "pattern": "^[A-Z]$"},
                                "expr": {"type": "string", "minLength": 1},
                                "datasource": DS_REF,
                            },
                        },
                    },
                },
                "allOf": [
                    {
                        "if": {"properties": {"type": {"enum": ["stat", "timeseries"]}}},
                        "then": {
                            "required": ["datasource", "targets"],
                            "properties": {"targets": {"minItems": 1}},
                        },
                    },
                    {
                        "if": {"properties": {"type": {"const": "row"}}},
                        "then": {
                            "required": ["collapsed", "panels"],
                            "properties": {
                                "collapsed": {"const": False},
                                "panels": {"maxItems": 0},
                                "gridPos": {"properties": {"x": {"const": 0}, "w": {"const": 24}}},
                            },
                        },
                    },
                    {
                        "if": {"properties": {"type": {"const": "text"}}},
                        "then": {"required": ["options"], "not": {"required": ["targets"]}},
                    },
                ],
            },
        },
    },
}
ROWS = ["Pipeline health", "Situation KPIs"]


def _provisioned_uid() -> str:
    (source,) = DATASOURCES["datasources"]
    return str(source["uid"])


def dashboard_problems(dash: dict[str, Any], uid: str) -> list[str]:
    """Why ``dash`` is not a valid Tike dashboard (empty when it is)."""
    validator = jsonschema.Draft202012Validator(DASHBOARD_SCHEMA)
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(dash)]
    if problems:
        return problems
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    if len(ids) != len(set(ids)):
        problems.append(f"panel ids repeat: {sorted(i for i in ids if ids.count(i) > 1)}")
    boxes: list[tuple[int, dict[str, int]]] = []
    for p in panels:
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            problems.append(f"panel {p['id']}: x + w = {g['x'] + g['w']} > 24")
        for other, ob in boxes:
            if (
                g["x"] < ob["x"] + ob["w"]
                and ob["x"] < g["x"] + g["w"]
                and g["y"] < ob["y"] + ob["h"]
                and ob["y"] < g["y"] + g["h"]
            ):
                problems.append(f"panels {other} and {p['id']} overlap")
        boxes.append((p["id"], g))
        refs = [t["refId"] for t in p.get("targets", ())]
        if len(refs) != len(set(refs)):
            problems.append(f"panel {p['id']}: refIds repeat")
        for ref in [p.get("datasource")] + [t["datasource"] for t in p.get("targets", ())]:
            if ref is not None and ref["uid"] != uid:
                problems.append(f"panel {p['id']}: datasource uid {ref['uid']!r} is not {uid!r}")
    rows = sorted((p for p in panels if p["type"] == "row"), key=lambda p: p["gridPos"]["y"])
    if [r["title"] for r in rows] != ROWS:
        problems.append(f"rows are {[r['title'] for r in rows]}, expected {ROWS}")
    elif min(p["gridPos"]["y"] for p in panels) != rows[0]["gridPos"]["y"]:
        problems.append("a panel sits above the first row")
    for i, row in enumerate(rows):
        top = row["gridPos"]["y"]
        bottom = rows[i + 1]["gridPos"]["y"] if i + 1 < len(rows) else float("inf")
        if not any(top < p["gridPos"]["y"] < bottom for p in panels if p["type"] != "row"):
            problems.append(f"row {row['title']!r} has no panels")
    return problems


def test_dashboard_passes_the_schema_check() -> None:
    jsonschema.Draft202012Validator.check_schema(DASHBOARD_SCHEMA)
    assert dashboard_problems(DASHBOARD, _provisioned_uid()) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["panels"][3]["gridPos"].update(x=20, w=8), "> 24"),
        (lambda d: d["panels"][3].update(type="graph"), "'graph' is not one of"),
        (lambda d: d["panels"][4].update(id=d["panels"][3]["id"]), "panel ids repeat"),
        (lambda d: d["panels"][4]["gridPos"].update(d["panels"][3]["gridPos"]), "overlap"),
        (lambda d: d["panels"][3]["targets"][0]["datasource"].update(uid="x"), "uid 'x'"),
        (lambda d: d["panels"][3]["targets"][0].pop("expr"), "'expr' is a required"),
        (lambda d: d.update(schemaVersion="39"), "is not of type 'integer'"),
        (lambda d: d["panels"][0].update(title="Other"), "rows are"),
    ],
)
def test_the_dashboard_check_catches_broken_dashboards(mutate: Any, expected: str) -> None:
    broken = copy.deepcopy(DASHBOARD)
    mutate(broken)
    problems = dashboard_problems(broken, _provisioned_uid())
    assert any(expected in p for p in problems), problems


def test_dashboard_uses_the_provisioned_prometheus_datasource() -> None:
    (source,) = DATASOURCES["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in SERVICES
    assert 9090 in {_container_port(p) for p in SERVICES["prometheus"]["ports"]}
    used = {t["datasource"]["uid"] for _, t in _targets()}
    assert used == {source["uid"]}


def test_every_dashboard_metric_is_exported_by_tike() -> None:
    seen = set()
    for panel, target in _targets():
        names = metric_names(target["expr"])
        assert names, f"panel {panel['title']!r}: {target['expr']!r} selects no metric"
        unknown = names - set(SERIES) - PROMETHEUS_SYNTHETIC
        assert not unknown, f"panel {panel['title']!r} uses metrics no code defines: {unknown}"
        seen |= names
    # Pipeline health, the routing counters and the situation KPIs are all on the dashboard.
    wanted = {
        "tike_events_in_total",
        "tike_events_out_total",
        "tike_consumer_lag",
        "tike_decision_seconds_bucket",
        "tike_gateway_decision_latency_seconds_bucket",
        "tike_gateway_e2e_latency_seconds_bucket",
        "tike_deadletter_total",
        "tike_worker_up",
        "tike_gateway_consumer_lag",
        "tike_gateway_projector_active",
        "tike_gateway_ws_clients",
        "tike_gateway_queue_drops_total",
        "tike_decisions_total",
    } | set(SITUATION_LABELS)
    assert wanted <= seen, f"missing from the dashboard: {wanted - seen}"


# --- the situation KPI row ---------------------------------------------------------------------

#: The situation gauges (streams/metrics.py, observe_kpis) and their label names.
SITUATION_LABELS: dict[str, tuple[str, ...]] = {
    g._name: tuple(g._labelnames)
    for g in (
        streams.metrics.SITUATION_OPEN,
        streams.metrics.SITUATION_OVERDUE,
        streams.metrics.SITUATION_NEEDS,
        streams.metrics.SITUATION_KPI,
        streams.metrics.SITUATION_RESPONSE,
    )
}
#: The values observe_kpis gives each label (region aside, which is the dashboard variable).
SITUATION_VALUES: dict[str, set[str]] = {
    "window": set(WINDOWS),
    "source": {s.value for s in NeedSource},
    "kpi": set(streams.metrics._KPI_COUNTS),
    "step": {"offer_to_accept", "accept_to_on_site"},
    "stat": {"median", "p90"},
}
REGION_QUERY = "label_values(tike_situation_open_needs, region)"
#: What the KPI row must show: (panel type, unit or None, metric, label values it must select).
KPI_ROW: list[tuple[str, str | None, str, dict[str, str]]] = [
    ("stat", None, "tike_situation_open_needs", {}),
    ("stat", None, "tike_situation_overdue_needs", {}),
    ("stat", "percentunit", "tike_situation_kpi", {"window": "24h", "kpi": "share_at_home"}),
    ("stat", None, "tike_situation_kpi", {"window": "24h", "kpi": "avoided_transports"}),
    ("stat", None, "tike_situation_kpi", {"window": "24h", "kpi": "ambulance"}),
    ("stat", None, "tike_situation_kpi", {"window": "24h", "kpi": "sent_to_ed"}),
    ("stat", None, "tike_situation_kpi", {"window": "1h", "kpi": "calls_116117"}),
    ("stat", None, "tike_situation_kpi", {"window": "24h", "kpi": "calls_116117"}),
    *[
        ("timeseries", None, "tike_situation_needs", {"window": "1h", "source": s.value})
        for s in NeedSource
    ],
    *[
        (
            "timeseries",
            "s",
            "tike_situation_response_seconds",
            {"window": "1h", "step": step, "stat": stat},
        )
        for step in SITUATION_VALUES["step"]
        for stat in SITUATION_VALUES["stat"]
    ],
]
#: Stand-ins from before the KPIs were exported; the KPI row must not fall back on them.
STAND_INS = {"tike_needs_total", "tike_events_out_total"}
MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def selectors(expr: str, metric: str) -> list[dict[str, tuple[str, str]]]:
    """The label matchers of each selection of ``metric`` in ``expr``: label -> (op, value)."""
    found = re.finditer(rf"(?<![\w:]){re.escape(metric)}(?![\w:])\s*(\{{[^}}]*\}})?", expr)
    return [{m[1]: (m[2], m[3]) for m in MATCHER.finditer(s[1] or "")} for s in found]


def _admits(matchers: dict[str, tuple[str, str]], labels: dict[str, str]) -> bool:
    for label, value in labels.items():
        op, pattern = matchers.get(label, ("=~", ".*"))
        hit = value == pattern if op in {"=", "!="} else bool(re.fullmatch(pattern, value))
        if hit == op.startswith("!"):
            return False
    return True


def kpi_row_problems(dash: dict[str, Any], uid: str) -> list[str]:
    """Why the Situation KPIs row does not show the exported KPIs (empty when it does)."""
    problems = []
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
    var = variables.get("region")
    if var is None:
        problems.append("no region variable")
    else:
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if var.get("type") != "query" or query != REGION_QUERY:
            problems.append(f"the region variable must be a query for {REGION_QUERY}")
        if not (var.get("multi") and var.get("includeAll")):
            problems.append("the region variable must allow several regions and All")
        if (var.get("datasource") or {}).get("uid") != uid:
            problems.append(f"the region variable does not use datasource {uid!r}")
    (row,) = [p for p in dash["panels"] if p["type"] == "row" and p["title"] == "Situation KPIs"]
    top = row["gridPos"]["y"]
    rows_below = [r["gridPos"]["y"] for r in dash["panels"] if r["type"] == "row"]
    bottom = min((y for y in rows_below if y > top), default=float("inf"))
    in_row = [p for p in dash["panels"] if p["type"] != "row" and top < p["gridPos"]["y"] < bottom]
    for p in in_row:
        if p["type"] == "text":
            problems.append(f"text panel {p['title']!r} in the KPI row")
        for t in p.get("targets", ()):
            if stand_in := metric_names(t["expr"]) & STAND_INS:
                problems.append(f"panel {p['title']!r} uses the stand-in {sorted(stand_in)}")
    for p in dash["panels"]:
        for t in p.get("targets", ()):
            for metric, names in SITUATION_LABELS.items():
                for sel in selectors(t["expr"], metric):
                    where = f"panel {p['title']!r}: {metric}"
                    if sel.get("region") != ("=~", "$region"):
                        problems.append(f'{where} is not filtered by region=~"$region"')
                    for label, (op, value) in sel.items():
                        exported = SITUATION_VALUES.get(label, set())
                        if label not in names:
                            problems.append(f"{where} has no label {label!r}")
                        elif label != "region" and not any(
                            _admits({label: (op, value)}, {label: v}) for v in exported
                        ):
                            problems.append(f"{where}: {label}{op}{value!r} selects nothing")
    for kind, unit, metric, labels in KPI_ROW:
        if not any(
            p["type"] == kind
            and unit in {None, p["fieldConfig"]["defaults"].get("unit")}
            and any(
                _admits(sel, labels)
                for t in p.get("targets", ())
                for sel in selectors(t["expr"], metric)
            )
            for p in in_row
        ):
            problems.append(f"no {kind} panel in the KPI row shows {metric} {labels}")
    return problems


def test_the_kpi_row_shows_the_exported_situation_kpis() -> None:
    assert {"region", "window", "source", "kpi", "step", "stat"} == {
        label for names in SITUATION_LABELS.values() for label in names
    }
    assert kpi_row_problems(DASHBOARD, _provisioned_uid()) == []


def _kpi_panel(dash: dict[str, Any], title: str) -> dict[str, Any]:
    (panel,) = [p for p in dash["panels"] if p["title"] == title]
    return panel


def _retarget(dash: dict[str, Any], title: str, old: str, new: str) -> None:
    for t in _kpi_panel(dash, title)["targets"]:
        t["expr"] = t["expr"].replace(old, new)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["panels"].remove(_kpi_panel(d, "Overdue needs")),
            "shows tike_situation_overdue_needs",
        ),
        (
            lambda d: _retarget(d, "Resolved at home (24 h)", "share_at_home", "closed"),
            "'share_at_home'",
        ),
        (
            lambda d: _kpi_panel(d, "Resolved at home (24 h)")["fieldConfig"]["defaults"].update(
                unit="percent"
            ),
            "'share_at_home'",
        ),
        (
            lambda d: _retarget(d, "116117 calls (1 h, 24 h)", 'window="24h"', 'window="1d"'),
            "window='1d' selects nothing",
        ),
        (
            lambda d: _retarget(d, "Needs received in the last hour per source", "window", "span"),
            "has no label 'span'",
        ),
        (
            lambda d: _retarget(d, "Open needs", 'region=~"$region"', 'region=~".*"'),
            "not filtered by region",
        ),
        (
            lambda d: _retarget(
                d,
                "Offer → accept and accept → on site (last hour)",
                "tike_situation_response_seconds",
                "tike_decision_seconds_bucket",
            ),
            "tike_situation_response_seconds",
        ),
        (
            lambda d: _kpi_panel(d, "Needs received in the last hour per source")["targets"][
                0
            ].update(expr="sum by (source) (increase(tike_needs_total[1h]))"),
            "stand-in",
        ),
        (
            lambda d: d["panels"].append(
                {
                    "type": "text",
                    "id": 99,
                    "title": "Not exported",
                    "gridPos": {"x": 0, "y": 90, "w": 24, "h": 2},
                    "options": {},
                }
            ),
            "text panel",
        ),
        (lambda d: d["templating"].update(list=[]), "no region variable"),
        (lambda d: d["templating"]["list"][0].update(includeAll=False), "several regions"),
    ],
)
def test_the_kpi_row_check_catches_lost_kpis(mutate: Any, expected: str) -> None:
    broken = copy.deepcopy(DASHBOARD)
    mutate(broken)
    problems = kpi_row_problems(broken, _provisioned_uid())
    assert any(expected in p for p in problems), problems


def test_rates_apply_to_counters_and_quantiles_to_histogram_buckets() -> None:
    for panel, target in _targets():
        expr = target["expr"]
        for m in re.finditer(r"\b(rate|irate|increase)\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", expr):
            family, kind = SERIES[m.group(2)]
            assert kind in {"counter", "histogram"}, (
                f"{panel['title']!r}: {m.group(1)}() of {kind} {family}"
            )
        if "histogram_quantile" in expr:
            q = re.match(r"histogram_quantile\(\s*([0-9.]+)\s*,", expr)
            assert q is not None and 0 < float(q.group(1)) < 1, expr
            names = metric_names(expr)
            assert all(n.endswith("_bucket") and SERIES[n][1] == "histogram" for n in names), expr
            by = re.findall(r"\bby\s*\(([^)]*)\)", expr)
            assert by and all("le" in [s.strip() for s in b.split(",")] for b in by), expr


def test_grafana_reads_the_provisioned_files_where_compose_mounts_them() -> None:
    mounts = {}
    for volume in SERVICES["grafana"]["volumes"]:
        source, target, *_ = str(volume).split(":")
        mounts[target] = source
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    (provider,) = PROVIDERS["providers"]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    home = _env("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/tike.json"


# --- Prometheus -------------------------------------------------------------------------------


def _job(name: str) -> dict[str, Any]:
    (job,) = [j for j in PROMETHEUS["scrape_configs"] if j["job_name"] == name]
    return job


@pytest.mark.parametrize(
    ("job", "service", "port_var"),
    [
        ("tike-worker", "worker", "TIKE_METRICS_PORT"),
        ("tike-gateway", "gateway", "TIKE_GATEWAY_PORT"),
    ],
)
def test_prometheus_finds_every_replica_on_the_service_port(
    job: str, service: str, port_var: str
) -> None:
    assert PROMETHEUS["global"]["scrape_interval"] == "15s"
    config = _job(job)
    assert "static_configs" not in config, "static targets miss scaled replicas"
    (sd,) = config["dns_sd_configs"]
    assert sd["type"] == "A"
    assert sd["names"] == [service] and service in SERVICES
    assert sd["port"] == int(_env(service)[port_var])
    assert config.get("metrics_path", "/metrics") == "/metrics"


def test_gateway_metrics_auth_matches_the_scrape_config() -> None:
    """/metrics has no token dependency today, so Prometheus sends none. If the route ever
    requires a token, the scrape job must send one (and this test says so)."""
    app = create_app(GatewaySettings())
    (route,) = [r for r in app.routes if isinstance(r, APIRoute) and r.path == "/metrics"]

    def calls(dependant: Any) -> Iterator[Any]:
        for dep in dependant.dependencies:
            yield dep.call
            yield from calls(dep)

    needs_token = get_principal in set(calls(route.dependant))
    job = _job("tike-gateway")
    sends_token = any(k in job for k in ("authorization", "bearer_token_file", "basic_auth"))
    assert needs_token == sends_token


def test_prometheus_reads_the_mounted_config() -> None:
    prometheus = SERVICES["prometheus"]
    flags = dict(str(a).removeprefix("--").split("=", 1) for a in prometheus["command"])
    mounts = dict(str(v).split(":")[1::-1] for v in prometheus["volumes"])
    assert mounts[flags["config.file"]] == "./deploy/prometheus/prometheus.yml"
    assert flags["storage.tsdb.path"] in mounts  # data on a named volume
    assert mounts[flags["storage.tsdb.path"]] in COMPOSE["volumes"]


# --- the proxy --------------------------------------------------------------------------------

Directive = tuple[str, list[str], list[Any] | None]


def parse_nginx(text: str) -> list[Directive]:
    """nginx.conf as nested directives ``(name, args, block or None)``; quotes removed."""
    token = r"#[^\n]*|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[{};]|[^\s{};#\"']+"
    tokens = [t for t in re.findall(token, text) if not t.startswith("#")]
    pos = 0

    def block() -> list[Directive]:
        nonlocal pos
        out: list[Directive] = []
        words: list[str] = []
        while pos < len(tokens):
            t = tokens[pos]
            pos += 1
            if t == ";":
                out.append((words[0], words[1:], None))
                words = []
            elif t == "{":
                out.append((words[0], words[1:], block()))
                words = []
            elif t == "}":
                assert not words, f"unterminated directive {words}"
                return out
            else:
                words.append(t[1:-1] if t[0] in "\"'" else t)
        assert not words, f"unterminated directive {words}"
        return out

    return block()


def _find(block: list[Directive], name: str) -> list[Directive]:
    return [d for d in block if d[0] == name]


NGINX = parse_nginx((DEPLOY / "nginx" / "nginx.conf").read_text())
(HTTP,) = _find(NGINX, "http")
assert HTTP[2] is not None
(SERVER,) = _find(HTTP[2], "server")
assert SERVER[2] is not None
SERVER_BLOCK: list[Directive] = SERVER[2]
LOCATIONS = {" ".join(d[1]): d[2] or [] for d in _find(SERVER_BLOCK, "location")}


def _one(block: list[Directive], name: str) -> list[str]:
    (directive,) = _find(block, name)
    return directive[1]


def _setting(location: str, name: str) -> list[str]:
    """A directive's args in a location, or inherited from the server or http level."""
    for block in (LOCATIONS[location], SERVER_BLOCK, HTTP[2] or []):
        found = _find(block, name)
        if found:
            return found[-1][1]
    raise AssertionError(f"{name} is not set for location {location}")


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert m, value
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def _bytes(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG])?", value)
    assert m, value
    return (
        int(m.group(1))
        * {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[(m.group(2) or "").lower() or None]
    )


def test_the_nginx_parser_reads_blocks_and_quotes() -> None:
    parsed = parse_nginx('a 1; b { c "x y"; } # d;\n')
    assert parsed == [("a", ["1"], None), ("b", [], [("c", ["x y"], None)])]


def test_the_proxy_publishes_the_one_port_and_the_gateway_none() -> None:
    for name, service in SERVICES.items():
        if service.get("image") == "tike:latest":
            assert "ports" not in service, f"{name} publishes a port; only the proxy may"
    (published,) = SERVICES["proxy"]["ports"]
    assert published.startswith("${TIKE_PUBLISHED_BIND:-127.0.0.1}:${TIKE_PUBLISHED_PORT:-")
    assert _container_port(published) == int(_one(SERVER_BLOCK, "listen")[0])


def test_unauthenticated_monitoring_ports_are_loopback_only() -> None:
    for spec in SERVICES["prometheus"]["ports"]:
        assert str(spec).startswith("127.0.0.1:"), spec
    for spec in SERVICES["grafana"]["ports"]:
        assert str(spec).startswith("${GRAFANA_BIND:-127.0.0.1}:"), spec


def test_nginx_proxies_every_request_to_the_gateway_port_with_re_resolution() -> None:
    assert _one(HTTP[2] or [], "resolver")[0] == "127.0.0.11"
    (var, upstream) = _one(SERVER_BLOCK, "set")
    host, port = upstream.split(":")
    assert host == "gateway" and host in SERVICES
    assert int(port) == int(_env("gateway")["TIKE_GATEWAY_PORT"])
    passes = [
        (loc, args) for loc, block in LOCATIONS.items() for _, args, _ in _find(block, "proxy_pass")
    ]
    assert {loc for loc, _ in passes} == {"/", "/ws/"}
    for loc, (target,) in passes:
        # A literal host would be resolved once at start: new replicas would never be used.
        assert target == f"http://{var}", f"{loc}: proxy_pass {target} is not via {var}"


def test_nginx_upgrades_websockets_and_keeps_them_open() -> None:
    for route in ws.router.routes:
        assert str(getattr(route, "path", "")).startswith("/ws/"), route
    headers = {
        args[0].lower(): args[1] for _, args, _ in _find(LOCATIONS["/ws/"], "proxy_set_header")
    }
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    upgrade_map = ["$http_upgrade", "$connection_upgrade"]
    (mapping,) = [d for d in _find(HTTP[2] or [], "map") if d[1] == upgrade_map]
    assert dict((k, v[0]) for k, v, _ in mapping[2] or []) == {"default": "upgrade", "": "close"}
    assert _setting("/ws/", "proxy_http_version") == ["1.1"]
    assert _setting("/ws/", "proxy_buffering") == ["off"]
    assert _seconds(_setting("/ws/", "proxy_read_timeout")[0]) >= 3600
    assert _seconds(_setting("/ws/", "proxy_send_timeout")[0]) >= 3600


def test_nginx_forwards_client_headers_in_every_proxying_location() -> None:
    # proxy_set_header is inherited only by a level that sets none itself.
    for loc, block in LOCATIONS.items():
        if not _find(block, "proxy_pass"):
            continue
        own = _find(block, "proxy_set_header")
        scope = (
            own
            or _find(SERVER_BLOCK, "proxy_set_header")
            or _find(HTTP[2] or [], "proxy_set_header")
        )
        headers = {args[0].lower(): args[1] for _, args, _ in scope}
        assert headers.get("x-forwarded-for") == "$proxy_add_x_forwarded_for", loc
        assert headers.get("x-forwarded-proto") == "$scheme", loc
        assert headers.get("host") == "$host", loc


def test_nginx_body_limit_is_the_gateways() -> None:
    default = GatewaySettings.model_fields["max_body_bytes"].default
    limit = int(_env("gateway").get("TIKE_MAX_BODY_BYTES", default))
    assert _bytes(_one(SERVER_BLOCK, "client_max_body_size")[0]) == limit


def test_nginx_never_logs_tokens() -> None:
    # Websocket clients send ?token=...; the gateway redacts it from its own logs.
    formats = {args[0]: "".join(args[1:]) for _, args, _ in _find(HTTP[2] or [], "log_format")}
    for _, args, _ in _find(HTTP[2] or [], "access_log") + _find(SERVER_BLOCK, "access_log"):
        if args[0] != "off":
            assert len(args) > 1 and args[1] in formats, "the default format logs query strings"
    for name, fmt in formats.items():
        leaky = re.findall(r"\$(?:request|request_uri|args|query_string|arg_\w+)\b", fmt)
        assert not leaky, f"log_format {name} logs {leaky}"
    # The error log quotes whole request lines.
    assert _one(NGINX, "error_log")[1] in {"crit", "alert", "emerg"}


def test_nginx_does_not_serve_unauthenticated_metrics() -> None:
    block = LOCATIONS["= /metrics"]
    assert not _find(block, "proxy_pass")
    assert int(_one(block, "return")[0]) >= 400


def test_the_proxy_healthcheck_asks_nginx_itself() -> None:
    test = SERVICES["proxy"]["healthcheck"]["test"]
    url = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\S*)", test[-1])
    assert url is not None, test
    assert int(url.group(1)) == int(_one(SERVER_BLOCK, "listen")[0])
    block = LOCATIONS[f"= {url.group(2)}"]
    assert _one(block, "return")[0] == "200" and not _find(block, "proxy_pass")


# --- compose ----------------------------------------------------------------------------------


def test_healthy_dependencies_have_healthchecks() -> None:
    checked = 0
    for name, service in SERVICES.items():
        for dep, cond in _depends_on(service).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            if cond.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep}'s health"
                checked += 1
            elif cond.get("condition") == "service_completed_successfully":
                assert SERVICES[dep].get("restart") == "no", f"{dep} must run once"
    assert checked >= 6
    assert _depends_on(SERVICES["grafana"])["prometheus"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    ("service", "port", "path"),
    [("prometheus", 9090, "/-/healthy"), ("grafana", 3000, "/api/health")],
)
def test_monitoring_healthchecks_ask_the_right_endpoint(service: str, port: int, path: str) -> None:
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "wget"
    assert test[-1] == f"http://127.0.0.1:{port}{path}"
    assert port in {_container_port(p) for p in SERVICES[service]["ports"]}


def test_secrets_are_required_not_defaulted() -> None:
    secret = re.compile(r"(SECRET|PASSWORD|TOKEN|_KEY)$")
    found = 0
    for name, service in SERVICES.items():
        for var, value in (service.get("environment") or {}).items():
            if secret.search(var):
                found += 1
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", str(value)), (
                    f"{name}: {var} must be ${{VAR:?message}} (required, no default)"
                )
    assert found >= 2  # TIKE_SECRET and the Grafana admin password
    assert _env("grafana")["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_third_party_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = str(service["image"])
        if "build" in service:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"


def test_bind_mounts_exist_and_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes") or ():
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert {"prometheus-data", "grafana-data"} <= declared


# --- the operations guide ---------------------------------------------------------------------


def test_operations_guide_lists_every_topic_with_its_retention() -> None:
    for t in TOPICS:
        row = re.search(rf"^\| `{re.escape(t.name)}` \|(.*)$", OPERATIONS, re.M)
        assert row, f"docs/operations.md has no row for {t.name}"
        cells = row.group(1)
        if t.configs.get("cleanup.policy") == "compact":
            assert "compact" in cells, t.name
        if t.configs.get("retention.ms") == "-1":
            assert "forever" in cells, t.name
        if not t.configs:
            assert "7 days" in cells, t.name  # the broker default, log.retention.hours=168
        parts = str(t.partitions) if t.partitions else "TIKE_TOPIC_PARTITIONS"
        assert parts in cells, t.name


def test_operations_guide_names_only_real_metrics() -> None:
    named = set(re.findall(r"\btike_[a-z0-9_]+\b(?![-/.])", OPERATIONS))  # not volumes, paths
    assert len(named) >= 10
    assert named <= set(SERIES) | {s.removesuffix("_bucket") for s in SERIES}, named - set(SERIES)
