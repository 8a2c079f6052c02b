"""Load and validate a ruleset from YAML. Every error names the file, rule id, line and column.

The condition language is data, not code: a mapping of vocabulary fields to values, lists or
a few operators (``in``, ``not``, ``gte``, ``lte``, ``any_of``, ``all_of``, ``none_of``, time
ranges). YAML tags, anchors and aliases are refused; nothing is ever evaluated.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from rules.model import Condition, Route, Rule, Ruleset
from rules.vocabulary import MINUTES, Field, Priority, Service, flag_combos_with

MAX_BYTES = 1 << 20
MAX_RULES = 5000
#: Bounds on the YAML itself, checked before it is composed: levels of nesting and values.
MAX_DEPTH = 32
MAX_NODES = 200_000
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SKILL = re.compile(r"^[a-z0-9_]{1,40}$")
TIME_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}


@dataclass(frozen=True, slots=True)
class RuleError(Exception):
    origin: str
    line: int
    column: int
    message: str
    rule_id: str | None = None

    def __str__(self) -> str:
        rule = f" rule {self.rule_id!r}:" if self.rule_id else ""
        return f"{self.origin}:{self.line}:{self.column}:{rule} {self.message}"


class RuleFileError(ValueError):
    """A ruleset was refused; ``errors`` holds every problem found."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class _Ctx:
    def __init__(self, origin: str, fields: dict[str, Field]) -> None:
        self.origin = origin
        self.fields = fields
        self.rule_id: str | None = None
        self.errors: list[RuleError] = []

    def error(self, node: Node, message: str) -> None:
        mark = node.start_mark
        self.errors.append(
            RuleError(self.origin, mark.line + 1, mark.column + 1, message, self.rule_id)
        )


def _rule_of_nodes(root: Node) -> dict[int, str]:
    """Node id -> the id of the rule it belongs to, so early errors can name the rule."""
    out: dict[int, str] = {}
    if not isinstance(root, MappingNode):
        return out
    for key, value in root.value:
        if getattr(key, "value", None) != "rules" or not isinstance(value, SequenceNode):
            continue
        for rule in value.value:
            if not isinstance(rule, MappingNode):
                continue
            rid = next(
                (
                    str(v.value)
                    for k, v in rule.value
                    if getattr(k, "value", None) == "id" and isinstance(v, ScalarNode)
                ),
                None,
            )
            if rid is None:
                continue
            stack: list[Node] = [rule]
            while stack and len(out) < 1_000_000:
                n = stack.pop()
                if id(n) in out:
                    continue
                out[id(n)] = rid
                if isinstance(n, MappingNode):
                    stack.extend(x for pair in n.value for x in pair)
                elif isinstance(n, SequenceNode):
                    stack.extend(n.value)
    return out


def _check_tree(node: Node, ctx: _Ctx, seen: set[int]) -> bool:
    """Refuse tags, anchors/aliases (a node reached twice) and over-deep nesting."""
    rule_of = _rule_of_nodes(node)
    stack = [(node, 0)]
    ok = True
    while stack:
        n, depth = stack.pop()
        ctx.rule_id = rule_of.get(id(n))
        if id(n) in seen:
            ctx.error(n, "anchors and aliases are not allowed")
            return False
        seen.add(id(n))
        if n.tag not in PLAIN_TAGS:
            ctx.error(n, f"YAML tag {n.tag!r} is not allowed")
            ok = False
        if depth > 12:
            ctx.error(n, "nesting is too deep")
            return False
        if isinstance(n, MappingNode):
            stack.extend((v, depth + 1) for pair in n.value for v in pair)
        elif isinstance(n, SequenceNode):
            stack.extend((v, depth + 1) for v in n.value)
    ctx.rule_id = None
    return ok


def _mapping(node: Node, ctx: _Ctx, what: str) -> dict[str, tuple[Node, Node]] | None:
    if not isinstance(node, MappingNode):
        ctx.error(node, f"{what} must be a mapping")
        return None
    out: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            ctx.error(key, f"{what}: keys must be plain names")
            continue
        if key.value in out:
            ctx.error(key, f"{what}: {key.value!r} is given twice")
            continue
        out[key.value] = (key, value)
    return out


def _scalars(node: Node, ctx: _Ctx, what: str) -> list[tuple[str, Node]] | None:
    if isinstance(node, ScalarNode):
        return [(node.value, node)]
    if isinstance(node, SequenceNode) and all(isinstance(v, ScalarNode) for v in node.value):
        return [(v.value, v) for v in node.value]
    ctx.error(node, f"{what} must be a value or a list of values")
    return None


def _text(node: Node) -> str:
    if isinstance(node, ScalarNode):
        return str(node.value)
    if isinstance(node, SequenceNode):
        return "[" + ", ".join(_text(v) for v in node.value) + "]"
    if isinstance(node, MappingNode):
        return "{" + ", ".join(f"{_text(k)}: {_text(v)}" for k, v in node.value) + "}"
    return "?"


def _enum_mask(field: Field, node: Node, ctx: _Ctx) -> int | None:
    def bits(items: list[tuple[str, Node]]) -> int | None:
        mask = 0
        for value, vnode in items:
            if value not in field.values:
                shown = ", ".join(field.values[:25]) + (" ..." if len(field.values) > 25 else "")
                ctx.error(vnode, f"{field.name}: unknown value {value!r}; allowed: {shown}")
                return None
            mask |= 1 << field.values.index(value)
        return mask

    if not isinstance(node, MappingNode):
        items = _scalars(node, ctx, field.name)
        return None if items is None else bits(items)
    ops = _mapping(node, ctx, field.name)
    if ops is None:
        return None
    mask = field.full
    allowed = {"in", "not"} | ({"gte", "lte"} if field.ordered else set())
    for op, (knode, vnode) in ops.items():
        if op not in allowed:
            ctx.error(knode, f"{field.name}: operator {op!r} is not allowed; use {sorted(allowed)}")
            return None
        items = _scalars(vnode, ctx, f"{field.name}.{op}")
        if items is None:
            return None
        if op in {"gte", "lte"} and len(items) != 1:
            ctx.error(vnode, f"{field.name}.{op} takes one value")
            return None
        got = bits(items)
        if got is None:
            return None
        if op == "in":
            mask &= got
        elif op == "not":
            mask &= field.full & ~got
        else:
            index = field.values.index(items[0][0])
            span = range(index, len(field.values)) if op == "gte" else range(index + 1)
            mask &= sum(1 << i for i in span)
    return mask


def _flags_mask(field: Field, node: Node, ctx: _Ctx) -> int | None:
    ops = _mapping(node, ctx, field.name)
    if ops is None:
        return None
    mask = field.full
    for op, (knode, vnode) in ops.items():
        if op not in {"any_of", "all_of", "none_of"}:
            ctx.error(knode, f"{field.name}: use any_of, all_of or none_of, not {op!r}")
            return None
        items = _scalars(vnode, ctx, f"{field.name}.{op}")
        if items is None:
            return None
        for value, v in items:
            if value not in field.values:
                ctx.error(v, f"{field.name}: unknown flag {value!r}; allowed: {field.values}")
                return None
        mask &= flag_combos_with(field, {v for v, _ in items}, op)
    return mask


def _time_mask(field: Field, node: Node, ctx: _Ctx) -> int | None:
    items = _scalars(node, ctx, field.name)
    if items is None:
        return None
    mask = 0
    for value, vnode in items:
        m = TIME_RANGE.match(value)
        if not m:
            ctx.error(vnode, f"time_of_day: {value!r} is not a range like '22:00-07:00'")
            return None
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59 or h1 * 60 + m1 > MINUTES:
            ctx.error(vnode, f"time_of_day: {value!r} is not a valid time range")
            return None
        start, end = h1 * 60 + m1, min(h2 * 60 + m2, MINUTES)
        if start == end:
            ctx.error(vnode, f"time_of_day: {value!r} is empty")
            return None
        span = range(start, end) if start < end else [*range(start, MINUTES), *range(0, end)]
        for minute in span:
            mask |= 1 << minute
    return mask


def _conditions(node: Node, ctx: _Ctx, what: str) -> tuple[Condition, ...]:
    entries = _mapping(node, ctx, what)
    if entries is None:
        return ()
    out = []
    for name, (knode, vnode) in entries.items():
        field = ctx.fields.get(name)
        if field is None:
            ctx.error(knode, f"{what}: unknown field {name!r}; fields: {', '.join(ctx.fields)}")
            continue
        if field.kind == "enum":
            mask = _enum_mask(field, vnode, ctx)
        elif field.kind == "flags":
            mask = _flags_mask(field, vnode, ctx)
        elif field.kind == "time":
            mask = _time_mask(field, vnode, ctx)
        else:
            items = _scalars(vnode, ctx, name)
            mask = None
            if items is not None:
                bad = [(v, n) for v, n in items if v not in field.values]
                if bad:
                    ctx.error(bad[0][1], f"weekday: unknown day {bad[0][0]!r}; use {field.values}")
                else:
                    mask = sum(1 << field.values.index(v) for v, _ in items)
        if mask is not None:
            mark = knode.start_mark
            cond = Condition(name, _text(vnode), mask, mark.line + 1, mark.column + 1)
            out.append(cond)
    return tuple(out)


def _route(node: Node, ctx: _Ctx) -> Route | None:
    entries = _mapping(node, ctx, "route")
    if entries is None:
        return None
    allowed = {"service", "priority", "sla_minutes", "skills", "fallback"}
    for key, (knode, _) in entries.items():
        if key not in allowed:
            ctx.error(knode, f"route: unknown key {key!r}; keys: {sorted(allowed)}")
    for key in ("service", "priority", "sla_minutes"):
        if key not in entries:
            ctx.error(node, f"route: {key} is required")
    if ctx.errors and any(k not in entries for k in ("service", "priority", "sla_minutes")):
        return None

    def one(key: str, choices: tuple[str, ...]) -> str | None:
        vnode = entries[key][1]
        if not isinstance(vnode, ScalarNode) or vnode.value not in choices:
            ctx.error(vnode, f"route.{key}: {_text(vnode)!r} is not one of {list(choices)}")
            return None
        return str(vnode.value)

    services = tuple(s.value for s in Service)
    service = one("service", services)
    priority = one("priority", tuple(p.value for p in Priority))
    sla_node = entries["sla_minutes"][1]
    sla = None
    if (
        isinstance(sla_node, ScalarNode)
        and sla_node.tag.endswith(":int")
        and 1 <= int(sla_node.value) <= 10080
    ):
        sla = int(sla_node.value)
    else:
        ctx.error(sla_node, "route.sla_minutes must be a whole number of minutes, 1 to 10080")
    skills: list[str] = []
    if "skills" in entries:
        for value, vnode in _scalars(entries["skills"][1], ctx, "route.skills") or []:
            if SKILL.match(value):
                skills.append(value)
            else:
                ctx.error(vnode, f"route.skills: {value!r} is not a skill name (a-z, 0-9, _)")
    fallback: list[Service] = []
    if "fallback" in entries:
        for value, vnode in _scalars(entries["fallback"][1], ctx, "route.fallback") or []:
            if value not in services:
                ctx.error(vnode, f"route.fallback: {value!r} is not one of {list(services)}")
            elif value == service or Service(value) in fallback:
                ctx.error(vnode, f"route.fallback: {value!r} is repeated")
            else:
                fallback.append(Service(value))
    if service is None or priority is None or sla is None:
        return None
    return Route(Service(service), Priority(priority), sla, tuple(skills), tuple(fallback))


def _rule(node: Node, ctx: _Ctx, ids: set[str]) -> Rule | None:
    ctx.rule_id = None
    entries = _mapping(node, ctx, "rule")
    if entries is None:
        return None
    id_node = entries.get("id", (None, None))[1]
    if not isinstance(id_node, ScalarNode) or not RULE_ID.match(str(id_node.value)):
        ctx.error(id_node or node, "rule id is required: lower-case letters, digits and '-'")
        return None
    ctx.rule_id = str(id_node.value)
    if ctx.rule_id in ids:
        ctx.error(id_node, "rule id is used twice")
    ids.add(ctx.rule_id)
    for key, (knode, _) in entries.items():
        if key not in {"id", "description", "when", "unless", "route"}:
            ctx.error(knode, f"unknown key {key!r}; keys: id, description, when, unless, route")
    when = _conditions(entries["when"][1], ctx, "when") if "when" in entries else ()
    unless = _conditions(entries["unless"][1], ctx, "unless") if "unless" in entries else ()
    if "route" not in entries:
        ctx.error(node, "route is required")
        return None
    route = _route(entries["route"][1], ctx)
    desc = entries.get("description", (None, None))[1]
    if route is None:
        return None
    mark = node.start_mark
    return Rule(
        id=ctx.rule_id,
        description=str(desc.value) if isinstance(desc, ScalarNode) else "",
        when=when,
        unless=unless,
        route=route,
        line=mark.line + 1,
        column=mark.column + 1,
    )


def _at(origin: str, event: yaml.Event, message: str) -> RuleFileError:
    mark = event.start_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return RuleFileError([RuleError(origin, line, column, message)])


def check_bounds(text: str, origin: str) -> None:
    """Refuse a document nested deeper than ``MAX_DEPTH`` or with more than ``MAX_NODES``
    nodes, with the place where it goes too far. Reads the YAML event stream, which PyYAML
    parses without recursion, so a hostile document never reaches the composer."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _at(origin, event, f"nesting is too deep (over {MAX_DEPTH} levels)")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise _at(origin, event, f"too many values (over {MAX_NODES})")


def parse_ruleset(text: str, origin: str, fields: dict[str, Field]) -> Ruleset:
    """Parse and validate; raise :class:`RuleFileError` with every problem found."""
    ctx = _Ctx(origin, fields)
    if len(text.encode()) > MAX_BYTES:
        raise RuleFileError([RuleError(origin, 1, 1, f"file is larger than {MAX_BYTES} bytes")])
    try:
        check_bounds(text, origin)  # before compose, which recurses once per level of nesting
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError as exc:  # defensive: check_bounds keeps compose far from the limit
        raise RuleFileError([RuleError(origin, 1, 1, "nesting is too deep")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleFileError([RuleError(origin, line, col, f"not valid YAML: {problem}")]) from exc
    if root is None:
        raise RuleFileError([RuleError(origin, 1, 1, "the file is empty")])
    if not _check_tree(root, ctx, set()):
        raise RuleFileError(ctx.errors)
    top = _mapping(root, ctx, "ruleset")
    if top is None:
        raise RuleFileError(ctx.errors)
    for key in ("ruleset", "version", "rules"):
        if key not in top:
            ctx.error(root, f"{key} is required")
    for key, (knode, _) in top.items():
        if key not in {"ruleset", "version", "description", "rules"}:
            ctx.error(knode, f"unknown key {key!r}; keys: ruleset, version, description, rules")
    if ctx.errors:
        raise RuleFileError(ctx.errors)
    rules_node = top["rules"][1]
    rules: list[Rule] = []
    if not isinstance(rules_node, SequenceNode) or not rules_node.value:
        ctx.error(rules_node, "rules must be a non-empty list")
    elif len(rules_node.value) > MAX_RULES:
        ctx.error(rules_node, f"at most {MAX_RULES} rules")
    else:
        ids: set[str] = set()
        for rnode in rules_node.value:
            rule = _rule(rnode, ctx, ids)
            if rule is not None:
                rules.append(rule)
    if ctx.errors:
        raise RuleFileError(ctx.errors)
    desc = top.get("description", (None, None))[1]
    return Ruleset(
        name=str(top["ruleset"][1].value),
        version=str(top["version"][1].value),
        description=str(desc.value) if isinstance(desc, ScalarNode) else "",
        rules=tuple(rules),
        origin=origin,
        checksum=hashlib.sha256(text.encode()).hexdigest()[:16],
        text=text,
    )


def load_ruleset(path: Path, fields: dict[str, Field]) -> Ruleset:
    return parse_ruleset(path.read_text(encoding="utf-8"), str(path), fields)
