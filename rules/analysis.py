"""Dead-rule analysis: rules an earlier rule (or the safety guard) shadows, and rules that can
never match. Exact, because every field's domain is finite.

A need's fields depend on its source (a transport has no alarm code), so the space of needs is
a union over sources of products of per-field domains. A rule's match set in each source slice
is a product of bitmasks; one product contains another when every factor does.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.guard import LIFE_THREATENING
from rules.model import Condition, Rule, Ruleset
from rules.vocabulary import Field

Slice = dict[str, int]


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    line: int
    kind: str  # "never_matches" | "shadowed" | "guarded"
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: rule {self.rule_id!r} {self.message}"


def _domain(field: Field, source: str) -> int:
    """Points of ``field`` a need from ``source`` can have."""
    if field.kind != "enum" or field.name == "source":
        return field.full
    if source not in field.sources:
        return 1 << field.absent
    values = (1 << len(field.values)) - 1
    return values | (1 << field.absent) if field.optional else values


def _masks(conds: tuple[Condition, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in conds:
        out[c.field] = out.get(c.field, -1) & c.mask
    return out


def slices(conds: tuple[Condition, ...], fields: dict[str, Field]) -> dict[str, Slice]:
    """Per source, the product of per-field masks a conjunction allows (empty slices omitted)."""
    masks = _masks(conds)
    source_field = fields["source"]
    out: dict[str, Slice] = {}
    for i, source in enumerate(source_field.values):
        if not (masks.get("source", source_field.full) >> i) & 1:
            continue
        sl: Slice = {}
        for name, field in fields.items():
            if name == "source":
                continue
            m = masks.get(name, field.full) & _domain(field, source)
            if m == 0:
                break
            sl[name] = m
        else:
            out[source] = sl
    return out


def _subset(a: Slice, b: Slice) -> bool:
    return all(a[f] & ~b[f] == 0 for f in a)


def _disjoint(a: Slice, b: Slice) -> bool:
    return any(a[f] & b[f] == 0 for f in a)


def _covered(r: dict[str, Slice], q: dict[str, Slice], q_unless: dict[str, Slice]) -> bool:
    """Every need ``r`` allows is taken by ``q`` (``q`` minus its ``unless`` part)."""
    for source, rs in r.items():
        qs = q.get(source)
        if qs is None or not _subset(rs, qs):
            return False
        us = q_unless.get(source)
        if us is not None and not _disjoint(rs, us):
            return False
    return True


def _guard_rules(fields: dict[str, Field]) -> list[tuple[str, dict[str, Slice]]]:
    out = []
    for name, values, reason in LIFE_THREATENING:
        f = fields[name]
        mask = sum(1 << f.values.index(v) for v in values if v in f.values)
        cond = Condition(name, "", mask, 0, 0)
        out.append((reason, slices((cond,), fields)))
    return out


def analyse(ruleset: Ruleset, fields: dict[str, Field]) -> list[Finding]:
    findings: list[Finding] = []
    earlier: list[tuple[Rule, dict[str, Slice], dict[str, Slice]]] = []
    guards = _guard_rules(fields)
    for rule in ruleset.rules:
        r = slices(rule.when, fields)
        unless = slices(rule.unless, fields) if rule.unless else {}
        if not r or (rule.unless and _covered(r, unless, {})):
            findings.append(
                Finding(
                    rule.id,
                    rule.line,
                    "never_matches",
                    "can never match: its conditions exclude each other "
                    "(a field the need's source never has, or an empty set of values)",
                )
            )
            continue
        shadow = next((q for q, qs, qu in earlier if _covered(r, qs, qu)), None)
        if shadow is not None:
            findings.append(
                Finding(
                    rule.id,
                    rule.line,
                    "shadowed",
                    f"is shadowed by rule {shadow.id!r} (line {shadow.line}), "
                    "which matches every need it would",
                )
            )
        else:
            reason = next((why for why, gs in guards if _covered(r, gs, {})), None)
            if reason is not None:
                findings.append(
                    Finding(
                        rule.id,
                        rule.line,
                        "guarded",
                        f"is never reached: the safety guard sends all its needs to the "
                        f"ambulance ({reason})",
                    )
                )
        earlier.append((rule, r, unless))
    return findings
