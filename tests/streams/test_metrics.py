"""Situation KPI gauges (streams/metrics.py): set from a region's KPI entry, and never left
at a stale value."""

from __future__ import annotations

from prometheus_client import REGISTRY

from streams import metrics


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_kpis_become_gauges_and_vanished_values_are_removed() -> None:
    metrics.clear_situation()
    region = "test-region"
    window = {
        "by_source": {"safety_alarm": 4, "transport_request": 3},
        "closed": 2,
        "share_at_home": 0.5,
        "offer_to_accept": {"median_s": 30.0, "p90_s": 90.0},
    }
    metrics.observe_kpis(region, {"open": 5, "overdue": 1, "1h": window})
    assert _value("tike_situation_open_needs", region=region) == 5
    assert _value("tike_situation_overdue_needs", region=region) == 1
    assert (
        _value("tike_situation_needs", region=region, window="1h", source="transport_request") == 3
    )
    assert _value("tike_situation_kpi", region=region, window="1h", kpi="share_at_home") == 0.5
    step = {"region": region, "window": "1h", "step": "offer_to_accept"}
    assert _value("tike_situation_response_seconds", stat="p90", **step) == 90.0

    later = {
        "by_source": {"safety_alarm": 1},
        "closed": 0,
        "share_at_home": None,
        "offer_to_accept": {"median_s": None, "p90_s": None},
    }
    metrics.observe_kpis(region, {"open": 0, "overdue": 0, "1h": later})
    assert _value("tike_situation_needs", region=region, window="1h", source="safety_alarm") == 1
    assert (
        _value("tike_situation_needs", region=region, window="1h", source="transport_request")
        is None
    )
    assert _value("tike_situation_kpi", region=region, window="1h", kpi="share_at_home") is None
    assert _value("tike_situation_response_seconds", stat="p90", **step) is None
    assert _value("tike_situation_open_needs", region=region) == 0


def test_revoked_partitions_clear_every_gauge() -> None:
    metrics.observe_kpis("r2", {"open": 2, "overdue": 0})
    metrics.clear_situation()
    assert _value("tike_situation_open_needs", region="r2") is None
