from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rules.engine import Router, fields_for
from rules.loader import parse_ruleset
from rules.model import Ruleset
from rules.vocabulary import Field
from tike.regions import Registry, load_registry

HEADER = 'ruleset: t\nversion: "1"\nrules:\n'


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="session")
def fields(registry: Registry) -> dict[str, Field]:
    return fields_for(registry)


@pytest.fixture(scope="session")
def parse(fields: dict[str, Field]) -> Callable[[str], Ruleset]:
    def _parse(rules_yaml: str) -> Ruleset:
        return parse_ruleset(HEADER + rules_yaml, "test.yaml", fields)

    return _parse


@pytest.fixture(scope="session")
def router_for(registry: Registry) -> Callable[[str], Router]:
    def _router(rules_yaml: str) -> Router:
        return Router.from_text(HEADER + rules_yaml, "test.yaml", registry)

    return _router


def need(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "need_id": "n-1",
        "region": "etela-pohjanmaa",
        "municipality": "743",
        "occurred_at": "2026-11-23T10:00:00+00:00",  # 12:00 in Helsinki, a Monday
        "client_flags": [],
    }
    base.update(fields)
    return base
