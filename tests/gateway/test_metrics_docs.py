"""docs/gateway.md's metric table names each gateway metric with the labels it really has."""

from __future__ import annotations

import re
from pathlib import Path

from gateway import metrics

DOC = Path(__file__).parents[2] / "docs" / "gateway.md"


def _documented() -> dict[str, tuple[str, ...]]:
    text = DOC.read_text().split("## Metrics (`/metrics`)", 1)[1].split("\n## ", 1)[0]
    out: dict[str, tuple[str, ...]] = {}
    for cell in re.findall(r"^\| (.+?) \| ", text, re.M):
        for name, labels in re.findall(r"`(tike_[a-z0-9_]+)(?:\{([a-z_,]*)\})?`", cell):
            out[name] = tuple(x for x in labels.split(",") if x)
    return out


def _registered() -> dict[str, tuple[str, ...]]:
    out = {}
    for collector in metrics.REGISTRY._names_to_collectors.values():
        name = collector._name  # type: ignore[attr-defined]
        if type(collector).__name__ == "Counter":
            name += "_total"
        out[name] = tuple(collector._labelnames)  # type: ignore[attr-defined]
    return out


def test_every_gateway_metric_is_documented_with_its_labels() -> None:
    documented, registered = _documented(), _registered()
    assert documented == registered


def test_auth_failures_are_labelled_by_channel() -> None:
    assert _registered()["tike_gateway_auth_failures_total"] == ("channel",)
    assert _documented()["tike_gateway_auth_failures_total"] == ("channel",)
