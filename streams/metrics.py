"""Prometheus metrics of the stream worker."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from tike_core import gc_watch

EVENTS_IN = Counter("tike_events_in_total", "Records consumed, per topic.", ["topic"])
EVENTS_OUT = Counter("tike_events_out_total", "Records produced, per topic.", ["topic"])
DEADLETTERS = Counter(
    "tike_deadletter_total", "Records sent to the dead-letter topic, per reason.", ["reason"]
)
NEEDS = Counter("tike_needs_total", "Needs published, per region and source.", ["region", "source"])
DUPLICATES = Counter("tike_duplicate_needs_total", "Redelivered needs dropped.", ["region"])
DEVICES_SILENT = Counter("tike_devices_silent_total", "Devices reported silent.", ["region"])
INGEST_SECONDS = Histogram(
    "tike_ingest_seconds",
    "Time to decode, validate and normalise one input record.",
    ["topic"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
WORKER_UP = Gauge("tike_worker_up", "1 while the worker's agents run.")
DECISIONS = Counter(
    "tike_decisions_total", "Routing decisions, per chosen service and rule.", ["service", "rule"]
)
DECISION_SECONDS = Histogram(
    "tike_decision_seconds",
    "Time to route one need (guard, rules, team selection).",
    buckets=(0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01),
)
RULESETS_REFUSED = Counter("tike_rulesets_refused_total", "Ruleset activations refused.")
RULESET_INFO = Gauge("tike_ruleset_info", "The ruleset in force (value 1).", ["ruleset"])
CONSUMER_LAG = Gauge(
    "tike_consumer_lag",
    "Records waiting per input partition (fetch high watermark minus next offset).",
    ["topic", "partition"],
)
JOURNAL_RECORDS = Counter("tike_journal_records_total", "Situation journal records written.")
REDELIVERED = Counter(
    "tike_redelivered_total", "Inputs skipped because the state already holds them.", ["topic"]
)
STALE_INPUTS = Counter(
    "tike_stale_inputs_total",
    "Region inputs skipped because their partition had moved to another worker.",
    ["topic"],
)
REFUSED_ACTIONS = Counter(
    "tike_refused_actions_total", "Team actions refused (illegal, not the owner, unknown)."
)
REBUILD_SECONDS = Histogram(
    "tike_situation_rebuild_seconds",
    "Time to rebuild a partition's situation from snapshot and journal.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEVICE_OBSERVATIONS = Counter(
    "tike_device_observations_total",
    "Device observations by path: applied in the ingest agent (the raw record was in its "
    "device's partition) or sent through tike.devices.observations.",
    ["path"],
)
GC_PAUSE_SECONDS = Histogram(
    "tike_gc_pause_seconds",
    "Python garbage collector pauses of the worker, by generation (they stop every agent).",
    ["generation"],
    buckets=gc_watch.PAUSE_BUCKETS,
)
RESENT_OUTPUTS = Counter(
    "tike_resent_outputs_total",
    "Outputs of journal records sent again on rebuild (they may not have been delivered).",
)
SNAPSHOTS = Counter("tike_snapshots_total", "Situation snapshots written.", ["partition"])
SNAPSHOT_FAILURES = Counter("tike_snapshot_failures_total", "Situation snapshots that failed.")

# Situation KPIs per region (the board's KPI entries, for Prometheus and Grafana). Only the
# worker that holds a region's partition sets them; a worker clears them when its partitions
# are revoked, so a sum over workers counts each region once.
SITUATION_OPEN = Gauge("tike_situation_open_needs", "Open needs.", ["region"])
SITUATION_OVERDUE = Gauge("tike_situation_overdue_needs", "Open needs past their SLA.", ["region"])
SITUATION_NEEDS = Gauge(
    "tike_situation_needs",
    "Needs received in the window, per source.",
    ["region", "window", "source"],
)
SITUATION_KPI = Gauge(
    "tike_situation_kpi",
    "Situation counts in the window: closed, resolved_at_home, sent_to_ed, ambulance, "
    "avoided_transports, calls_116117; share_at_home is a ratio.",
    ["region", "window", "kpi"],
)
SITUATION_RESPONSE = Gauge(
    "tike_situation_response_seconds",
    "Offer-to-accept and accept-to-on-site times in the window (median and p90).",
    ["region", "window", "step", "stat"],
)
_KPI_COUNTS = (
    "closed",
    "resolved_at_home",
    "sent_to_ed",
    "ambulance",
    "avoided_transports",
    "calls_116117",
    "share_at_home",
)


_KPI_SET: dict[str, set[tuple[Gauge, tuple[str, ...]]]] = {}  # label sets set per region


def observe_kpis(region: str, kpis: dict[str, Any]) -> None:
    """Set the situation gauges from one region's KPI entry (tike_core/situation/kpi.py). Label
    sets the entry no longer has (a source gone from the window, a time with no sample)
    are removed, not left at their last value."""
    now: set[tuple[Gauge, tuple[str, ...]]] = set()

    def put(gauge: Gauge, labels: tuple[str, ...], value: float | None) -> None:
        if value is not None:
            gauge.labels(*labels).set(value)
            now.add((gauge, labels))

    put(SITUATION_OPEN, (region,), kpis.get("open", 0))
    put(SITUATION_OVERDUE, (region,), kpis.get("overdue", 0))
    for window, values in kpis.items():
        if not isinstance(values, dict):
            continue
        for source, count in values.get("by_source", {}).items():
            put(SITUATION_NEEDS, (region, window, source), count)
        for name in _KPI_COUNTS:
            put(SITUATION_KPI, (region, window, name), values.get(name))
        for step in ("offer_to_accept", "accept_to_on_site"):
            times = values.get(step) or {}
            for stat in ("median", "p90"):
                put(SITUATION_RESPONSE, (region, window, step, stat), times.get(f"{stat}_s"))
    for gauge, labels in _KPI_SET.get(region, set()) - now:
        gauge.remove(*labels)
    _KPI_SET[region] = now


def clear_situation() -> None:
    for gauge in (
        SITUATION_OPEN,
        SITUATION_OVERDUE,
        SITUATION_NEEDS,
        SITUATION_KPI,
        SITUATION_RESPONSE,
    ):
        gauge.clear()
    _KPI_SET.clear()


def watch_gc() -> None:
    """Time each garbage collection into ``tike_gc_pause_seconds``."""
    gc_watch.GcWatch(gc_watch.into(GC_PAUSE_SECONDS)).install()
