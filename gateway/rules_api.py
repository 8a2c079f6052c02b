"""Rules endpoints for operators: the active ruleset and its history, validate, dry-run and
activate. Activation goes to ``tike.rules`` like ``tike rules activate``, and is audited."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError

from gateway.commands import CommandError, origin_of
from gateway.deps import CommandsDep, Operator, RegistryDep, SettingsDep
from rules.activation import Applied, active
from rules.analysis import analyse
from rules.cases import activation_cases, failing_cases
from rules.dryrun import dry_run
from rules.engine import Router
from rules.loader import RuleFileError
from streams import rules_store
from streams.kafka_log import partitions_of, read_records
from tike import topics
from tike.regions import Registry

router = APIRouter(prefix="/api/rules", tags=["rules"])
MAX_TEXT = 256 * 1024


class RulesText(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class DryRunBody(RulesText):
    since_hours: float = Field(24.0, gt=0, le=24 * 30)


class WhatIfBody(RulesText):
    hours: float = Field(24.0, gt=0, le=24 * 7)
    seed: int = Field(1, ge=0, le=2**31)


class ActivateBody(RulesText):
    comment: str = Field(min_length=1, max_length=500)
    tests: str | None = Field(
        None,
        max_length=MAX_TEXT,
        description="Rule tests (the `.tests.yaml` format), run as `tike rules activate` "
        "runs the file beside the ruleset: any failure refuses the activation (422).",
    )


def _compile(text: str, registry: Registry) -> tuple[Router | None, list[dict[str, Any]]]:
    try:
        return Router.from_text(text, "candidate", registry), []
    except RuleFileError as exc:
        return None, [
            {"line": e.line, "column": e.column, "rule_id": e.rule_id, "message": e.message}
            for e in exc.errors
        ]


def _test(router: Router, given: tuple[str, str] | None) -> list[str]:
    """The failing rule tests of an activation: the same ones `tike rules activate` runs."""
    cases = activation_cases(router, given)
    return failing_cases(router, *cases) if cases is not None else []


async def _history(settings: SettingsDep, registry: Registry) -> list[Any]:
    try:
        return await rules_store.read_history(
            settings.kafka_bootstrap, registry, settings.fetch_wait_ms
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise HTTPException(503, "Kafka is unavailable") from exc


@router.get("")
async def get_rules(who: Operator, settings: SettingsDep, registry: RegistryDep) -> dict[str, Any]:
    """The ruleset in force (its text) and every activation, newest last."""
    results = await _history(settings, registry)
    current = active(results)
    router_ = current.router if current else Router.default(registry)
    history = []
    for r in results:
        if isinstance(r, Applied):
            a = r.activation
            history.append(
                {
                    "offset": r.offset,
                    "label": a.label,
                    "comment": a.comment,
                    "activated_by": a.activated_by,
                    "activated_at": a.activated_at.isoformat(),
                    "active": r is current,
                }
            )
        else:
            history.append({"offset": r.offset, "refused": r.reason, "active": False})
    return {
        "label": router_.ruleset.label,
        "source": f"tike.rules@{current.offset}" if current else "shipped default",
        "text": router_.ruleset.text,
        "rules": len(router_.ruleset.rules),
        "history": history,
    }


@router.post("/validate")
async def validate(body: RulesText, who: Operator, registry: RegistryDep) -> dict[str, Any]:
    """Errors (line, column, rule) of a candidate ruleset, and warnings such as dead rules."""
    router_, errors = await asyncio.to_thread(_compile, body.text, registry)
    if router_ is None:
        return {"valid": False, "errors": errors, "warnings": []}
    findings = await asyncio.to_thread(analyse, router_.ruleset, router_.fields)
    warnings = [str(f) for f in findings]
    return {
        "valid": True,
        "label": router_.ruleset.label,
        "rules": len(router_.ruleset.rules),
        "errors": [],
        "warnings": warnings,
    }


@router.post("/dry-run")
async def dry_run_rules(
    body: DryRunBody,
    who: Operator,
    settings: SettingsDep,
    registry: RegistryDep,
    commands: CommandsDep,
    request: Request,
) -> dict[str, Any]:
    """Replay the needs of the last ``since_hours``: which decisions would change? The needs
    are client data: the replay is in the access log."""
    try:
        await commands.access(who, "needs.replay", f"{body.since_hours:g}h", origin_of(request))
    except CommandError as exc:
        raise HTTPException(exc.status, exc.message) from exc
    candidate, errors = await asyncio.to_thread(_compile, body.text, registry)
    if candidate is None:
        raise HTTPException(422, {"message": "the ruleset does not validate", "errors": errors})
    try:
        current, _ = await rules_store.active_router(settings.kafka_bootstrap, registry)
        needs = await rules_store.recorded_needs(settings.kafka_bootstrap, body.since_hours * 3600)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise HTTPException(503, "Kafka is unavailable") from exc
    return dry_run(current, candidate, needs).as_dict()


_whatif_lock = asyncio.Lock()


async def _recorded_rows(bootstrap: str, hours: float) -> list[tuple[str, Any, Any, int]]:
    """The input topics' records of the last ``hours``, as ``tike record`` would write them."""
    since_ms = int((time.time() - hours * 3600) * 1000)
    rows: list[tuple[str, Any, Any, int]] = []
    for topic in topics.INPUT_TOPICS:
        for partition in await partitions_of(bootstrap, topic):
            for msg in await read_records(bootstrap, topic, partition, since_ms):
                try:
                    value = orjson.loads(msg.value)
                except orjson.JSONDecodeError:
                    value = {}
                rows.append((topic, None, value if isinstance(value, dict) else {}, msg.timestamp))
    return rows


def _whatif(
    rows: list[Any], current: Router, candidate: Router, registry: Registry, seed: int
) -> dict[str, Any]:
    from simulators.whatif.compare import compare
    from simulators.whatif.inputs import prepare
    from simulators.whatif.replay import Config
    from simulators.whatif.report import render_html
    from simulators.whatif.roster import recorded_roster, shipped_roster
    from tike.settings import WorkerSettings

    ws = WorkerSettings()
    prepared = prepare(rows, registry, ws.heartbeat_timeout_s, ws.silence_check_interval_s)
    roster = recorded_roster(prepared.team_reports, prepared.end, registry)
    if roster is None:
        region = prepared.regions[0] if prepared.regions else next(iter(registry.regions))
        roster = shipped_roster(region, registry)
    timeouts = ws.offer_timeouts
    report, timings = compare(
        prepared,
        Config(current, roster, timeouts),
        Config(candidate, roster, timeouts),
        registry,
        seed,
    )
    return {
        "report": report,
        "html": render_html(report),
        "seconds": timings.baseline_s + timings.variant_s + timings.report_s,
    }


@router.post("/whatif")
async def whatif(
    body: WhatIfBody, who: Operator, settings: SettingsDep, registry: RegistryDep
) -> dict[str, Any]:
    """Replay the last ``hours`` of recorded inputs with the ruleset in force and with the
    draft, on the teams as they reported (else the region's shipped roster): every KPI side by
    side, each difference traced to needs (docs/whatif.md). One at a time per gateway."""
    candidate, errors = _compile(body.text, registry)
    if candidate is None:
        raise HTTPException(422, {"message": "the ruleset does not validate", "errors": errors})
    async with _whatif_lock:
        try:
            current, _ = await rules_store.active_router(settings.kafka_bootstrap, registry)
            rows = await _recorded_rows(settings.kafka_bootstrap, body.hours)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise HTTPException(503, f"Kafka is unavailable: {exc}") from exc
        if not rows:
            raise HTTPException(404, "nothing was recorded in that time")
        try:
            return await asyncio.to_thread(_whatif, rows, current, candidate, registry, body.seed)
        except ValueError as exc:
            raise HTTPException(422, {"message": str(exc), "errors": []}) from exc


@router.post("/activate", status_code=201)
async def activate(
    body: ActivateBody,
    who: Operator,
    settings: SettingsDep,
    registry: RegistryDep,
    commands: CommandsDep,
) -> dict[str, Any]:
    """Validate and activate a ruleset on every worker, with a comment. Audited."""
    candidate, errors = await asyncio.to_thread(_compile, body.text, registry)
    if candidate is None:
        raise HTTPException(422, {"message": "the ruleset does not validate", "errors": errors})
    given = ("tests", body.tests) if body.tests is not None else None
    failures = await asyncio.to_thread(_test, candidate, given)
    if failures:
        detail = {"message": "rule tests fail; the active ruleset stays", "failures": failures}
        raise HTTPException(422, detail)
    current = active(await _history(settings, registry))
    before = current.activation.label if current else Router.default(registry).ruleset.label
    try:
        activation = rules_store.new_activation(candidate, body.comment, who.sub)
    except ValidationError as exc:
        raise HTTPException(422, f"comment: {exc.errors()[0]['msg']}") from exc
    try:
        await commands.audit(
            who,
            "rules.activate",
            activation.label,
            {"label": before},
            {"label": activation.label, "checksum": activation.checksum, "comment": body.comment},
        )
        offset = await rules_store.publish(settings.kafka_bootstrap, activation)
    except CommandError as exc:
        raise HTTPException(exc.status, exc.message) from exc
    except (KafkaError, OSError) as exc:
        raise HTTPException(503, "Kafka is unavailable") from exc
    return {"label": activation.label, "offset": offset, "previous": before}
