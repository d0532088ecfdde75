"""Compiling type-checked conditions into a durable_rules ruleset.

Each rule condition is put in negation normal form and split into disjuncts at the level
of signals (durable_rules joins a rule's facts with *all*, so ``signal(a) or x > 1`` is
two durable_rules rules). Within a disjunct, the snapshot part becomes one durable_rules
expression on a flat snapshot fact whose keys are short names for the fields the
ruleset reads.

durable_rules compares doubles and has no notion of a missing value, so:
* snapshot values and literals reach it as doubles only where that is exact: contracts
  cap decimals at 15 significant digits, and literals are checked against the same cap;
* terms it cannot compare exactly (decimal arithmetic, ``count``, ``sum``, regular
  expressions, comparisons across list scopes) are evaluated in Python with the reference
  semantics and handed over as precomputed true/false keys ("atoms");
* negation is pushed down to comparisons (De Morgan), which, with "a comparison on a
  missing field does not match", is exactly three-valued logic's "fires only when true";
* ``all`` over an empty list is true (durable_rules says false), via a per-list length key.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from .condition import (FLIPPED, NEGATED, And, Compare, DataIssue, In, Literal, Node, Not, Or, Path, Presence, Quant,
                        Signal)
from .contract import ISSUES
from .errors import Problem
from .interpret import Env, compile_value
from .runtime import SENTINEL, SID, limit_problems, sentinel_rule

MAX_PROPERTIES = 250   # durable_rules refuses facts with more than 255 properties (error 302)
MAX_DISJUNCTS = 32
SIGNIFICANT_DIGITS = 15


class CompileProblem(ValueError):
    pass


def encode(value: Any) -> Any:
    """A validated snapshot value as durable_rules should see it."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, _dt.date):
        return value.toordinal()
    return value


def encode_literal(value: Any) -> Any:
    if isinstance(value, Decimal):
        digits = len(value.normalize().as_tuple().digits)
        if digits > SIGNIFICANT_DIGITS:
            raise CompileProblem(f"the number {value} has more than {SIGNIFICANT_DIGITS} significant digits")
        return float(value)
    return encode(value)


@dataclass
class Layout:
    """The keys of one fact scope: the snapshot root, or the elements of one list."""

    prefix: str                       # "" at the root, "$i." inside a list element
    var: str | None = None            # the element name bound in this scope
    fields: dict[tuple, str] = field(default_factory=dict)
    lists: dict[tuple, tuple[str, str, "Layout"]] = field(default_factory=dict)
    atoms: list[tuple[str, Node]] = field(default_factory=list)
    _atom_keys: dict[int, str] = field(default_factory=dict)
    _count: int = 0

    def _new_key(self, letter: str) -> str:
        self._count += 1
        if self._count > MAX_PROPERTIES:
            raise CompileProblem(f"the ruleset reads more than {MAX_PROPERTIES} values in one scope; "
                                 "durable_rules cannot hold that many (split the ruleset)")
        return f"{letter}{self._count}"

    def field_key(self, parts: tuple) -> str:
        if parts not in self.fields:
            self.fields[parts] = self._new_key("f")
        return self.prefix + self.fields[parts]

    def list_scope(self, parts: tuple, var: str) -> tuple[str, str, "Layout"]:
        k = (parts, var)
        if k not in self.lists:
            key = self._new_key("l")
            count_key = self._new_key("n")
            self.lists[k] = (key, count_key, Layout("$i.", var))
        key, count_key, child = self.lists[k]
        return self.prefix + key, self.prefix + count_key, child

    def atom_key(self, node: Node) -> str:
        if id(node) not in self._atom_keys:
            key = self._new_key("a")
            self._atom_keys[id(node)] = key
            self.atoms.append((key, node))
        return self.prefix + self._atom_keys[id(node)]

    def builder(self) -> Callable[[Any, Env], dict]:
        read = _reader(_field_tree(self.fields))
        lists = [(key, count_key, parts, child.var, child.builder())
                 for (parts, _var), (key, count_key, child) in self.lists.items()]
        atoms = [(key, compile_value(node)) for key, node in self.atoms]

        def build(data: Any, env: Env) -> dict:
            out: dict = {}
            if isinstance(data, dict):
                read(data, out)
                for key, count_key, parts, var, child in lists:
                    items = data
                    for part in parts:
                        items = items.get(part) if isinstance(items, dict) else None
                        if items is None:
                            break
                    if isinstance(items, list):
                        out[count_key] = len(items)
                        out[key] = [child(element, env.bind(var, element, "", None)) for element in items]
            for key, value_of in atoms:
                value = value_of(env)
                if value is not None:
                    out[key] = value
            return out

        return build


def _field_tree(fields: dict[tuple, str]) -> tuple:
    """The fields a scope reads as a tree, so that each object on the way is looked up
    once: ((name, fact key or None, subtree), ...)."""
    children: dict[str, tuple[str | None, dict]] = {}
    for parts, key in fields.items():
        level = children
        for i, part in enumerate(parts):
            own, sub = level.get(part, (None, {}))
            level[part] = (key if i == len(parts) - 1 else own, sub)
            level = sub

    def freeze(level: dict) -> tuple:
        return tuple((part, key, freeze(sub)) for part, (key, sub) in level.items())
    return freeze(children)


def _reader(tree: tuple) -> Callable[[dict, dict], None]:
    """A function that copies every field of ``tree`` present in a snapshot into a fact,
    encoded as ``encode`` does. Generated as straight-line code when the ruleset loads:
    one look-up per object and field on the way, no call per field."""
    lines = ["def read(data, out):", "    pass"]
    count = itertools.count()

    def emit(tree: tuple, var: str, pad: str) -> None:
        for part, key, sub in tree:
            x = f"v{next(count)}"
            lines.append(f"{pad}{x} = {var}.get({part!r})")
            if key is not None:
                lines.extend([f"{pad}if {x} is not None:",
                              f"{pad}    c = {x}.__class__",
                              f"{pad}    out[{key!r}] = float({x}) if c is Decimal else "
                              f"{x}.toordinal() if c is date or c is datetime else {x}"])
            if sub:
                lines.append(f"{pad}if isinstance({x}, dict):")
                emit(sub, x, pad + "    ")
    emit(tree, "data", "    ")
    namespace = {"Decimal": Decimal, "date": _dt.date, "datetime": _dt.datetime}
    exec("\n".join(lines), namespace)  # noqa: S102 - generated above from the ruleset's field names
    return namespace["read"]


def contains_signal(node: Node) -> bool:
    return any(isinstance(n, Signal) for n in node.walk())


@dataclass
class Disjunct:
    snap: list[tuple[Node, bool]]
    pos: frozenset
    neg: frozenset


def dnf(node: Node, positive: bool = True) -> list[Disjunct]:
    """Disjunctive normal form at the level of signals; signal-free subtrees stay whole."""
    if not contains_signal(node):
        return [Disjunct([(node, positive)], frozenset(), frozenset())]
    if isinstance(node, Signal):
        return [Disjunct([], frozenset([node.name]), frozenset())] if positive else \
            [Disjunct([], frozenset(), frozenset([node.name]))]
    if isinstance(node, Not):
        return dnf(node.item, not positive)
    conjunctive = isinstance(node, And) == positive
    if isinstance(node, (And, Or)):
        parts = [dnf(item, positive) for item in node.items]
        if not conjunctive:
            return [d for part in parts for d in part]
        result = [Disjunct([], frozenset(), frozenset())]
        for part in parts:
            result = [Disjunct(a.snap + b.snap, a.pos | b.pos, a.neg | b.neg) for a in result for b in part]
            if len(result) > MAX_DISJUNCTS * 4:
                raise CompileProblem("the condition has too many alternatives; simplify it")
        return [d for d in result if not (d.pos & d.neg)]
    raise CompileProblem(f"signal() cannot be used in {node.text!r}")


class ExprCompiler:
    """Turns the signal-free part of a condition into a durable_rules expression."""

    def __init__(self, root: Layout):
        self.root = root

    def compile(self, node: Node, positive: bool) -> dict:
        return self._c(node, positive, self.root, ())

    # native paths: a field of the current scope
    def _native(self, node: Node, layout: Layout, outer: tuple) -> tuple | None:
        if not isinstance(node, Path):
            return None
        parts = node.parts
        if layout.var is None:
            if parts[0] in outer:
                return None
            return parts
        if parts[0] == layout.var:
            return parts[1:] if len(parts) > 1 else None
        return None

    def _c(self, node: Node, positive: bool, layout: Layout, outer: tuple) -> dict:
        expr = self._native_expr(node, positive, layout, outer)
        if layout.var is not None and _has_or(expr):
            # durable_rules evaluates "$or" wrongly inside "$iany"/"$iall" (a false operand
            # after a true one wins), so within list elements it is computed in Python.
            return {layout.atom_key(node): positive}
        return expr

    def _native_expr(self, node: Node, positive: bool, layout: Layout, outer: tuple) -> dict:
        if isinstance(node, (And, Or)):
            conj = isinstance(node, And) == positive
            items = [self._c(item, positive, layout, outer) for item in node.items]
            return {"$and" if conj else "$or": items}
        if isinstance(node, Not):
            return self._c(node.item, not positive, layout, outer)
        if isinstance(node, Compare):
            native = self._compare(node, positive, layout, outer)
            if native is not None:
                return native
        elif isinstance(node, In):
            parts = self._native(node.operand, layout, outer)
            if parts is not None:
                key = layout.field_key(parts)
                values = [encode_literal(v) for v in node.values]
                if positive != node.negated:
                    return {"$or": [{key: v} for v in values]} if len(values) > 1 else {key: values[0]}
                return {"$and": [{"$neq": {key: v}} for v in values]} if len(values) > 1 else {"$neq": {key: values[0]}}
        elif isinstance(node, Path):
            parts = self._native(node, layout, outer)
            if parts is not None:
                return {layout.field_key(parts): positive}
        elif isinstance(node, DataIssue) and layout.var is None:
            # The snapshot carries a mark for each implausible field (FactContract.screen).
            key = layout.field_key((ISSUES, *node.path.parts))
            return {"$ex" if positive else "$nex": {key: 1}}
        elif isinstance(node, Presence):
            parts = self._native(node.path, layout, outer)
            if parts is not None:
                key = layout.field_key(parts)
                return {"$ex" if node.present == positive else "$nex": {key: 1}}
        elif isinstance(node, Quant) and node.kind in ("any", "all"):
            parts = self._native(node.source, layout, outer)
            if parts is not None:
                key, count_key, child = layout.list_scope(parts, node.var)
                body = self._c(node.body, positive if node.kind == "any" else positive, child,
                               outer + ((layout.var,) if layout.var else ()))
                is_any = (node.kind == "any") == positive
                if is_any:
                    return {"$iany": {key: body}}
                return {"$or": [{count_key: 0}, {"$iall": {key: body}}]}
        # everything else is evaluated exactly in Python and handed over as a true/false key
        return {layout.atom_key(node): positive}

    def _compare(self, node: Compare, positive: bool, layout: Layout, outer: tuple) -> dict | None:
        op = node.op if positive else NEGATED[node.op]
        left = self._native(node.left, layout, outer)
        right = self._native(node.right, layout, outer)
        if left is not None and isinstance(node.right, Literal):
            key, value = layout.field_key(left), encode_literal(node.right.value)
        elif right is not None and isinstance(node.left, Literal):
            key, value, op = layout.field_key(right), encode_literal(node.left.value), FLIPPED[op]
        elif left is not None and right is not None and layout.var is None:
            key, value = layout.field_key(left), {"$m": layout.field_key(right)}
            return _cmp(op, key, value, both_fields=True, other=value["$m"])
        else:
            return None
        return _cmp(op, key, value)


def _has_or(expr) -> bool:
    if isinstance(expr, dict):
        return "$or" in expr or any(_has_or(v) for v in expr.values())
    if isinstance(expr, list):
        return any(_has_or(v) for v in expr)
    return False


_C_OPS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}


def _cmp(op: str, key: str, value: Any, both_fields: bool = False, other: str | None = None) -> dict:
    if op == "==":
        expr = {key: value}
    else:
        expr = {_C_OPS[op]: {key: value}}
    if both_fields:
        # a comparison with a missing field must not match, whatever durable_rules does with it
        return {"$and": [{"$ex": {key: 1}}, {"$ex": {other: 1}}, expr]}
    return expr


# -- whole rulesets --------------------------------------------------------------------
#
# Two kinds of fact reach durable_rules in one evaluation: the snapshot (t "s", built by
# the layout) and one fact per signal derived (t "g"). durable_rules matches a disjunct's
# snapshot part and the signals it reads; the signals it reads under negation are left
# to the agenda, which knows when each is decided (durable_rules would check a negation
# only against the facts asserted before it) and needs no fact asserted to check it.

def signal_fact(name: str) -> str:
    return json.dumps({"sid": SID, "id": f"g:{name}", "t": "g", "n": name})


@dataclass(frozen=True)
class Compiled:
    """A ruleset as durable_rules runs it."""

    definition: dict                     # durable_rules rule name -> rule
    names: dict[str, tuple[int, frozenset]]  # durable_rules rule name -> (Vigil rule index, signals it negates)
    build_fact: Callable[[Any, Env], dict]


def compile_rules(rules, source: str, problems: list[Problem]) -> Compiled | None:
    """Compile every rule (each disjunct of its condition a durable_rules rule); record problems."""
    root = Layout("")
    compiler = ExprCompiler(root)
    definition: dict[str, dict] = {}
    names: dict[str, tuple[int, frozenset]] = {}
    for rule in rules:
        try:
            disjuncts = dnf(rule.condition)
            if not disjuncts:
                raise CompileProblem("the condition can never be true (it needs a signal and its absence)")
            for k, d in enumerate(disjuncts):
                name = f"{rule.index}.{k}"
                definition[name] = {"all": _disjunct_facts(compiler, d)}
                names[name] = (rule.index, d.neg)
        except CompileProblem as exc:
            problems.append(Problem(source, str(exc), rule=rule.id, path="when"))
    if problems:
        return None
    definition[SENTINEL] = sentinel_rule()
    # refused here, before durable_rules ever sees it: past its fixed limits it fails on
    # the first evaluation or hangs for good
    problems.extend(Problem(source, message, path="rules") for message in limit_problems(definition))
    if problems:
        return None
    return Compiled(definition, names, root.builder())


def _disjunct_facts(compiler: "ExprCompiler", d: Disjunct) -> list[dict]:
    conds = [compiler.compile(node, pol) for node, pol in d.snap]
    m = {"t": "s"} if not conds else {"$and": [{"t": "s"}] + conds}
    facts: list[dict] = [{"m": m}]
    for j, s in enumerate(sorted(d.pos)):
        facts.append({f"g{j}": {"$and": [{"t": "g"}, {"n": s}]}})
    return facts
