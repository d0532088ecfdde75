"""The reference semantics of conditions, in plain Python.

This tree-walking evaluator is not how decisions are matched (durable_rules does that);
it defines what a condition means, evaluates the few terms durable_rules cannot compare
exactly (decimal arithmetic, aggregates, regular expressions), and explains a decision:
which values a fired rule read, and why a rule did not fire.

Logic is three-valued (Kleene): a comparison reading a missing field is unknown (None);
``not`` unknown is unknown; a rule fires only when its condition is True.
"""
from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

from .condition import (And, Arith, Compare, DataIssue, In, Literal, Neg, Node, Not, Or, OverdueFollowUp, Path, Presence, Quant,
                        Signal, StrFunc, Total)
from .contract import ISSUES
from .followup import FOLLOW_UP
from .patterns import full_match

_CTX = decimal.Context(prec=34)
_OPS = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class Env:
    """Where names are looked up: the snapshot, bound list elements, derived signals."""

    __slots__ = ("root", "bindings", "signals", "reads")

    def __init__(self, root: dict, signals=frozenset(), bindings=None, reads: dict | None = None):
        self.root = root
        self.signals = signals
        self.bindings = bindings or {}
        self.reads = reads

    def bind(self, var: str, element: Any, label: str, reads: dict | None) -> "Env":
        b = dict(self.bindings)
        b[var] = (element, label)
        return Env(self.root, self.signals, b, reads)


def lookup(path: Path, env: Env):
    parts = path.parts
    if parts[0] in env.bindings:
        value, label = env.bindings[parts[0]]
        parts = parts[1:]
        shown = label + ("." + ".".join(parts) if parts else "")
    else:
        value, shown = env.root, path.dotted
    for part in parts:
        if not isinstance(value, dict):
            value = None
            break
        value = value.get(part)
        if value is None:
            break
    if env.reads is not None and value is not None and not isinstance(value, (dict, list)):
        env.reads[shown] = value
    return value


def evaluate(node: Node, env: Env):
    return _EVAL[type(node)](node, env)


def _literal(node, env):
    return node.value


def _compare(node: Compare, env):
    a = evaluate(node.left, env)
    b = evaluate(node.right, env)
    if a is None or b is None:
        return None
    return _OPS[node.op](a, b)


def _in(node: In, env):
    a = evaluate(node.operand, env)
    if a is None:
        return None
    found = a in node.values
    return not found if node.negated else found


def _and(node: And, env):
    unknown = False
    for item in node.items:
        v = evaluate(item, env)
        if v is False:
            return False
        if v is None:
            unknown = True
    return None if unknown else True


def _or(node: Or, env):
    unknown = False
    for item in node.items:
        v = evaluate(item, env)
        if v is True:
            return True
        if v is None:
            unknown = True
    return None if unknown else False


def _not(node: Not, env):
    v = evaluate(node.item, env)
    return None if v is None else not v


def _arith(node: Arith, env):
    a = evaluate(node.left, env)
    b = evaluate(node.right, env)
    if a is None or b is None:
        return None
    a, b = Decimal(a), Decimal(b)
    if node.op == "+":
        return _CTX.add(a, b)
    if node.op == "-":
        return _CTX.subtract(a, b)
    if node.op == "*":
        return _CTX.multiply(a, b)
    if b == 0:
        return None
    return _CTX.divide(a, b)


def _neg(node: Neg, env):
    v = evaluate(node.item, env)
    return None if v is None else -v


def _elements(node, env):
    items = lookup(node.source, env)
    if items is None or not isinstance(items, list):
        return None
    label = node.source.dotted
    if node.source.parts[0] in env.bindings:
        outer_label = env.bindings[node.source.parts[0]][1]
        label = outer_label + "." + ".".join(node.source.parts[1:])
    return items, label


def _quant(node: Quant, env):
    found = _elements(node, env)
    if found is None:
        return None
    items, label = found
    results = []
    for i, element in enumerate(items):
        sub_reads = {} if env.reads is not None else None
        v = evaluate(node.body, env.bind(node.var, element, f"{label}[{i}]", sub_reads))
        results.append(v)
        if sub_reads and (node.kind == "all" or v is True):
            env.reads.update(sub_reads)
    if node.kind == "count":
        return sum(1 for v in results if v is True)
    if node.kind == "any":
        if any(v is True for v in results):
            return True
        return None if any(v is None for v in results) else False
    if any(v is False for v in results):
        return False
    return None if any(v is None for v in results) else True


def _total(node: Total, env):
    found = _elements(node, env)
    if found is None:
        return None
    items, label = found
    total = Decimal(0)
    for i, element in enumerate(items):
        sub_reads = {} if env.reads is not None else None
        v = evaluate(node.body, env.bind(node.var, element, f"{label}[{i}]", sub_reads))
        if v is None:
            return None
        if sub_reads:
            env.reads.update(sub_reads)
        total = _CTX.add(total, Decimal(v))
    return total


def _signal(node: Signal, env):
    return node.name in env.signals


def _presence(node: Presence, env):
    reads, env.reads = env.reads, None
    try:
        found = lookup(node.path, env) is not None
    finally:
        env.reads = reads
    return found if node.present else not found


def _data_issue(node: DataIssue, env):
    marks = env.root.get(ISSUES) if isinstance(env.root, dict) else None
    for part in node.path.parts:
        marks = marks.get(part) if isinstance(marks, dict) else None
    found = marks is True
    if env.reads is not None:
        env.reads[node.text] = found
    return found


def _overdue_follow_up(node: OverdueFollowUp, env):
    facts = env.root.get(FOLLOW_UP) if isinstance(env.root, dict) else None
    overdue = facts.get("overdue") if isinstance(facts, dict) else None
    found = isinstance(overdue, list) and node.action in overdue
    if env.reads is not None:
        env.reads[node.text] = found
    return found


def _strfunc(node: StrFunc, env):
    v = lookup(node.path, env)
    if v is None:
        return None
    if node.kind == "matches":
        return full_match(node.pattern, v)
    if node.kind == "contains":
        return node.pattern in v
    if node.kind == "starts_with":
        return v.startswith(node.pattern)
    return v.endswith(node.pattern)


_EVAL = {Literal: _literal, Path: lookup, Compare: _compare, In: _in, And: _and, Or: _or, Not: _not,
         Arith: _arith, Neg: _neg, Quant: _quant, Total: _total, Signal: _signal, Presence: _presence,
         DataIssue: _data_issue, OverdueFollowUp: _overdue_follow_up,
         StrFunc: _strfunc}



# -- compiled once --------------------------------------------------------------------------
#
# The terms handed to durable_rules as precomputed keys are evaluated on every snapshot.
# ``compile_value`` turns a node into closures with exactly ``evaluate``'s semantics, minus
# the recording of values read (``env.reads`` must be None): no dispatch on the node type
# per evaluation, literals converted once. Node types without a compiled form fall back
# to ``evaluate``.

def compile_value(node: Node):
    """A function of an ``Env`` returning what ``evaluate(node, env)`` returns."""
    kind = type(node)
    if kind is Literal:
        value = node.value
        return lambda env: value
    if kind is Path:
        return _compiled_path(node.parts)
    if kind is Compare:
        left, right, op = compile_value(node.left), compile_value(node.right), _OPS[node.op]

        def compare(env):
            a = left(env)
            if a is None:
                return None
            b = right(env)
            return None if b is None else op(a, b)
        return compare
    if kind is Arith:
        return _compiled_arith(node)
    if kind is And or kind is Or:
        return _compiled_connective(node)
    if kind is Not:
        item = compile_value(node.item)

        def negation(env):
            v = item(env)
            return None if v is None else not v
        return negation
    if kind is In:
        operand, values, negated = compile_value(node.operand), node.values, node.negated

        def member(env):
            a = operand(env)
            if a is None:
                return None
            return (a in values) != negated
        return member
    return lambda env: evaluate(node, env)


def _compiled_path(parts: tuple):
    head, rest = parts[0], parts[1:]

    def path(env):
        bound = env.bindings.get(head)
        if bound is None:
            value, walk = env.root, parts
        else:
            value, walk = bound[0], rest
        for part in walk:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
            if value is None:
                return None
        return value
    return path


def _compiled_arith(node: Arith):
    def operand(n):
        if type(n) is Literal:
            const = Decimal(n.value)
            return lambda env: const
        f = compile_value(n)

        def as_decimal(env):
            v = f(env)
            return None if v is None else Decimal(v)
        return as_decimal
    left, right = operand(node.left), operand(node.right)
    op = {"+": _CTX.add, "-": _CTX.subtract, "*": _CTX.multiply}.get(node.op)

    def arith(env):
        a = left(env)
        if a is None:
            return None
        b = right(env)
        if b is None:
            return None
        if op is not None:
            return op(a, b)
        return None if b == 0 else _CTX.divide(a, b)
    return arith


def _compiled_connective(node):
    items = tuple(compile_value(item) for item in node.items)
    stop = type(node) is Or          # the value that decides: True for or, False for and

    def connective(env):
        unknown = False
        for item in items:
            v = item(env)
            if v is stop:
                return stop
            if v is None:
                unknown = True
        return None if unknown else not stop
    return connective


# -- explanations -------------------------------------------------------------------------

def values_read(node: Node, root: dict, signals) -> dict:
    """The snapshot values a (fired) condition read, keyed by path; list elements by index."""
    reads: dict = {}
    evaluate(node, Env(root, signals, reads=reads))
    return reads


def _threshold(node: Node, env: Env):
    if isinstance(node, Literal):
        return node.value
    return evaluate(node, Env(env.root, env.signals, env.bindings))


def first_failure(node: Node, root: dict, signals) -> dict:
    """The first part of a condition that is not true, with the actual value and threshold."""
    env = Env(root, signals)
    return _failure(node, env)


def _failure(node: Node, env: Env) -> dict:
    if isinstance(node, And):
        for item in node.items:
            if evaluate(item, env) is not True:
                return _failure(item, env)
    if isinstance(node, Compare):
        data_left = not isinstance(node.left, Literal)
        subject, other = (node.left, node.right) if data_left else (node.right, node.left)
        actual = evaluate(subject, env)
        out = {"condition": node.text, "actual": actual, "threshold": _threshold(other, env)}
        if isinstance(subject, Path):
            out["path"] = subject.dotted
        else:
            out["expression"] = subject.text
        if actual is None:
            out["note"] = "value missing"
        return out
    if isinstance(node, In):
        actual = evaluate(node.operand, env)
        out = {"condition": node.text, "actual": actual, "threshold": list(node.values)}
        if isinstance(node.operand, Path):
            out["path"] = node.operand.dotted
        if actual is None:
            out["note"] = "value missing"
        return out
    if isinstance(node, Signal):
        return {"condition": node.text, "actual": False, "note": f"signal {node.name} was not derived"}
    if isinstance(node, Not) and isinstance(node.item, Signal):
        return {"condition": node.text, "actual": True, "note": f"signal {node.item.name} was derived"}
    if isinstance(node, Path):
        return {"condition": node.text, "path": node.dotted, "actual": evaluate(node, env)}
    if isinstance(node, (Presence, StrFunc)):
        path = node.path
        return {"condition": node.text, "path": path.dotted, "actual": lookup(path, Env(env.root, env.signals, env.bindings))}
    value = evaluate(node, env)
    return {"condition": node.text, "actual": value}


def leaf_facts(node: Node, root: dict, signals) -> list[dict]:
    """The true comparisons of a fired condition, for reason sentences."""
    env = Env(root, signals)
    out: list[dict] = []
    _leaves(node, env, out)
    return out


def _leaves(node: Node, env: Env, out: list[dict]) -> None:
    if isinstance(node, (And, Or)):
        for item in node.items:
            if evaluate(item, env) is True:
                _leaves(item, env, out)
        return
    if isinstance(node, Compare):
        data_left = not isinstance(node.left, Literal)
        subject, other = (node.left, node.right) if data_left else (node.right, node.left)
        out.append({"subject": subject.text, "actual": evaluate(subject, env), "op": node.op if data_left else
                    {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(node.op, node.op),
                    "threshold": _threshold(other, env), "against": other.text})
        return
    if isinstance(node, In):
        out.append({"subject": node.operand.text, "actual": evaluate(node.operand, env),
                    "op": "not in" if node.negated else "in", "threshold": list(node.values)})
        return
    if isinstance(node, Quant) and node.kind in ("any", "all"):
        out.append({"subject": node.text, "actual": True, "op": None, "threshold": None})
        return
    if isinstance(node, Path):
        out.append({"subject": node.text, "actual": True, "op": None, "threshold": None})
        return
    if isinstance(node, Signal):
        out.append({"subject": f"signal {node.name}", "actual": True, "op": None, "threshold": None})
        return
    out.append({"subject": node.text, "actual": True, "op": None, "threshold": None})
