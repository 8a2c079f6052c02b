"""Rules endpoints for operators: the active ruleset and its history, validate, dry-run and
activate. Activation goes to ``tike.rules`` like ``tike rules activate``, and is audited."""

from __future__ import annotations

import asyncio
from typing import Any

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
from tike import rules_store
from tike.regions import Registry

router = APIRouter(prefix="/api/rules", tags=["rules"])
MAX_TEXT = 256 * 1024


class RulesText(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class DryRunBody(RulesText):
    since_hours: float = Field(24.0, gt=0, le=24 * 30)


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
