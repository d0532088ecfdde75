"""Property tests: on random snapshots, the durable_rules engine agrees with an
independent evaluation of the same conditions.

The independent side is deliberately naive: it evaluates every condition with the
three-valued reference interpreter and fires rules by re-scanning the whole ruleset after
each firing (highest priority, then rule id; a rule reading ``not signal(x)`` waits until
every rule deriving x has fired or can no longer fire). It
shares nothing with the compiled path but the parser.
"""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.engine import load_library
from app.engine.condition import Compare, In, Literal, Path as PathNode
from app.engine.contract import ISSUES, FieldSpec
from app.engine.interpret import Env, evaluate

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = load_library(ROOT / "rulesets", ROOT / "schemas")


def naive_screen(contract, data) -> tuple[dict, list[str]]:
    """The plausibility checks, written out: each implausible value taken out and marked
    where data_issue(path) looks for it."""
    seen, issues, flagged = copy.deepcopy(data), {}, []
    for path, spec in contract.paths():
        if spec.plausible is None:
            continue
        *parents, last = path.split(".")
        node = seen
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(last) if isinstance(node, dict) else None
        low, high = spec.plausible.min, spec.plausible.max
        if value is None or not ((low is not None and value < low) or (high is not None and value > high)):
            continue
        del node[last]
        mark = issues
        for part in parents:
            mark = mark.setdefault(part, {})
        mark[last] = True
        flagged.append(path)
    if issues:
        seen[ISSUES] = issues
    return seen, flagged


def naive_fired(ruleset, data) -> list[str]:
    rules = sorted(ruleset.rules, key=lambda r: (-r.priority, r.id))
    fired: list[str] = []
    signals: set[str] = set()

    def holds(r) -> bool:
        return evaluate(r.condition, Env(data, frozenset(signals))) is True

    def decided(s: str) -> bool:
        # every rule deriving s fired, or cannot fire any more: its condition is false
        # and every signal it reads is decided
        return all(d.id in fired or (all(decided(t) for t in d.reads | d.negates) and not holds(d))
                   for d in rules if s in d.signals)

    while True:
        for r in rules:
            if r.id not in fired and all(decided(s) for s in r.negates) and holds(r):
                fired.append(r.id)
                signals.update(r.signals)
                break
        else:
            return fired


def thresholds(ruleset) -> dict[str, set]:
    """Literals each field is compared with: generated values cluster around them."""
    out: dict[str, set] = {}
    for r in ruleset.rules:
        for node in r.condition.walk():
            if isinstance(node, Compare):
                for a, b in ((node.left, node.right), (node.right, node.left)):
                    if isinstance(a, PathNode) and isinstance(b, Literal):
                        out.setdefault(a.parts[-1], set()).add(b.value)
            if isinstance(node, In) and isinstance(node.operand, PathNode):
                out.setdefault(node.operand.parts[-1], set()).update(node.values)
    return out


def value_strategy(name: str, spec: FieldSpec, near: dict[str, set]):
    hints = set(near.get(name, set()))
    if spec.plausible is not None:  # either side of a plausible range too
        hints |= {b for b in (spec.plausible.min, spec.plausible.max) if b is not None}
    if spec.kind == "integer":
        lo, hi = int(spec.min), min(int(spec.max), 10**9)
        picks = sorted({min(max(int(h) + d, lo), hi) for h in hints if isinstance(h, Decimal) for d in (-1, 0, 1)})
        base = st.integers(lo, min(hi, lo + 400))
        return st.one_of(st.sampled_from(picks), base) if picks else base
    if spec.kind == "decimal":
        step = Decimal(1).scaleb(-spec.places)
        lo, hi = spec.min, min(spec.max, Decimal(10) ** 7)
        picks = sorted({min(max(h + d * step, lo), hi) for h in hints if isinstance(h, Decimal) for d in (-1, 0, 1)
                        if (h + d * step) == (h + d * step).quantize(step)})
        base = st.decimals(min_value=lo, max_value=hi, places=spec.places, allow_nan=False, allow_infinity=False)
        return st.one_of(st.sampled_from(picks), base) if picks else base
    if spec.kind == "boolean":
        return st.booleans()
    if spec.kind == "enum":
        return st.sampled_from(spec.values)
    if spec.kind == "string":
        longest = spec.max_length if spec.max_length is not None else 12
        words = sorted(h for h in hints if isinstance(h, str) and len(h) <= longest) or ["x"]
        return st.one_of(st.sampled_from(words), st.text(alphabet="abcXYZ casino", max_size=min(12, longest)))
    if spec.kind == "date":
        dates = sorted(h for h in hints if isinstance(h, dt.date))
        base = st.dates(dt.date(2020, 1, 1), dt.date(2027, 12, 31))
        return st.one_of(st.sampled_from(dates), base) if dates else base
    if spec.kind == "object":
        return object_strategy(spec.fields, near)
    if spec.kind == "list":
        return st.lists(value_strategy(name, spec.items, near), max_size=4)
    raise AssertionError(spec.kind)


def object_strategy(fields: dict[str, FieldSpec], near):
    required = {k: value_strategy(k, s, near) for k, s in fields.items() if s.required}
    optional = {k: value_strategy(k, s, near) for k, s in fields.items() if not s.required}
    return st.fixed_dictionaries(required, optional=optional)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


RULESETS = [rs.id for rs in LIBRARY.rulesets()]


@pytest.mark.parametrize("ruleset_id", RULESETS)
def test_engine_agrees_with_naive_evaluation(ruleset_id):
    rs = LIBRARY.ruleset(ruleset_id)
    strategy = object_strategy(rs.contract.fields, thresholds(rs))

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])
    @given(strategy)
    def check(raw):
        data = rs.contract.validate(_jsonable(raw))
        engine = rs.run(data)
        seen, flagged = naive_screen(rs.contract, data)
        assert list(engine.fired) == naive_fired(rs, seen)
        assert [f.field for f in engine.data_quality] == flagged

    check()


@pytest.mark.parametrize("ruleset_id", RULESETS)
def test_generated_snapshots_fire_a_good_share_of_rules(ruleset_id):
    """Guard against a vacuous property: the generator must reach most rules."""
    import random
    rs = LIBRARY.ruleset(ruleset_id)
    strategy = object_strategy(rs.contract.fields, thresholds(rs))
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(strategy)
    def collect(raw):
        seen.update(rs.run(rs.contract.validate(_jsonable(raw))).fired)

    collect()
    assert len(seen) >= len(rs.rules) * 0.6, sorted({r.id for r in rs.rules} - seen)
