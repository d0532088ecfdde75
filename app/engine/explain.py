"""Explaining an evaluation: the trail of firings, the rules that did not fire and why,
and the reason sentence owed for each adverse action.

With a ``mask`` (a ``masking.Redaction``), values of personal fields, and whatever is
derived from them, are shown masked; the rules themselves always saw the real values.
"""
from __future__ import annotations

from typing import Any

from .condition import And, Literal, Not, Or, Signal
from .interpret import first_failure, leaf_facts, values_read
from .parse import PLACEHOLDER_RE, ActionSpec, Rule
from .result import Firing, NotFired
from .util import show


def outline(rules: tuple[Rule, ...], fired: tuple[int, ...],
            readers: dict[str, tuple[int, ...]]) -> tuple[tuple, ...]:
    """What a trail shows that depends only on which rules fired, in which order: per
    firing, its place, the rule, the later firings that used its signals, and the whole
    ``Firing`` when the rule's condition reads no snapshot value (signals only). Such a
    Firing is shared by every evaluation with the same firings: results are immutable."""
    order_of = {idx: n for n, idx in enumerate(fired)}
    out = []
    for n, idx in enumerate(fired):
        rule = rules[idx]
        later = {j for s in rule.signals for j in readers.get(s, ()) if j in order_of and order_of[j] > n}
        used_by = tuple(rules[j].id for j in sorted(later, key=order_of.__getitem__))
        reads = any(type(node) not in _READS_NOTHING for node in rule.condition.walk())
        out.append((n, rule, used_by, _firing(n, rule, {}, used_by) if not reads else None))
    return tuple(out)


_READS_NOTHING = (Signal, Not, And, Or, Literal)


def trail(outline: tuple[tuple, ...], data: dict, sigset: frozenset, mask=None) -> tuple[Firing, ...]:
    """One ``Firing`` per fired rule, in firing order (as ``outline`` gives them), with the
    values its condition read."""
    firings = []
    for n, rule, used_by, firing in outline:
        if firing is None:
            values = values_read(rule.condition, data, sigset)
            if mask is not None:
                values = {k: mask.shown(v) if mask.personal(k) else v for k, v in values.items()}
            firing = _firing(n, rule, values, used_by)
        firings.append(firing)
    return tuple(firings)


def _firing(n: int, rule: Rule, values, used_by: tuple[str, ...]) -> Firing:
    return Firing(
        order=n + 1, rule=rule.id, title=rule.title, clause=rule.clause, priority=rule.priority,
        condition=rule.when, values=values,
        signals=rule.signals, reads_signals=tuple(sorted(rule.reads)), used_by=used_by,
        actions=tuple((a.name, a.params_dict) for a in rule.actions), level=rule.level,
        review=rule.review)


def not_fired(rules: tuple[Rule, ...], fired: list[int], data: dict, sigset: frozenset,
              mask=None) -> tuple[NotFired, ...]:
    """Every rule that did not fire, by id, with the first part of its condition that failed."""
    done = set(fired)
    return tuple(
        NotFired(rule=r.id, title=r.title, clause=r.clause, condition=r.when,
                 failed=_masked_failure(first_failure(r.condition, data, sigset), mask))
        for r in sorted(rules, key=lambda r: r.id) if r.index not in done)


def reason(spec: ActionSpec, params: dict, rules: list[Rule], data: dict, sigset: frozenset,
           mask=None) -> str:
    """"<action> (<params>) because <rule>: <what held> | ..." for an adverse action."""
    head = spec.title
    if params:
        head += " (" + ", ".join(f"{k} {show(v)}" for k, v in params.items()) + ")"
    parts = []
    for rule in rules:
        if rule.reason:
            text = _fill_template(rule.reason, data, mask)
        else:
            facts = leaf_facts(rule.condition, data, sigset)
            text = "; ".join(_fact_sentence(_masked_fact(f, mask)) for f in facts)
        clause = f" [{rule.clause}]" if rule.clause else ""
        parts.append(f"{rule.title}{clause}: {text}")
    return f"{head} because " + " | ".join(parts) + "."


def _fact_sentence(fact: dict) -> str:
    if fact["op"] is None:
        return fact["subject"]
    return f"{fact['subject']} is {show(fact['actual'])} (policy: {fact['op']} {show(fact['threshold'])})"


def _fill_template(template: str, data: dict, mask=None) -> str:
    def value(m):
        v: Any = data
        for part in m.group(1).split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is not None and mask is not None and mask.personal(m.group(1)):
            return mask.shown(v)
        return show(v) if v is not None else "(missing)"
    return PLACEHOLDER_RE.sub(value, template)


def _masked_fact(fact: dict, mask) -> dict:
    """A reason's fact with what it derives from personal fields masked."""
    if mask is None:
        return fact
    fact = dict(fact)
    if mask.mentions(fact["subject"]) and fact["op"] is not None:
        fact["actual"] = mask.shown(fact["actual"])
    if mask.mentions(fact.get("against")):
        fact["threshold"] = mask.shown(fact["threshold"])
    return fact


def _masked_failure(failed: dict, mask) -> dict:
    if mask is None:
        return failed
    failed = dict(failed)
    if mask.personal(failed.get("path") or "") or mask.mentions(failed.get("expression")) \
            or mask.mentions(failed.get("condition")):
        for key in ("actual", "threshold"):
            if failed.get(key) is not None and not isinstance(failed.get(key), bool):
                failed[key] = mask.shown(failed[key])
    return failed
