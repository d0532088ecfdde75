"""The engine benchmark's checking part, without timing anything.

bench/engine.py carries a hand-written plain-Python evaluation of the retail card rules
(the "floor") and a zen-engine decision model of the same rules. On generated snapshots
the floor must agree with the engine on the fired rules (and their order), the final
actions with their parameters, the level and the review frequency: it is an independent
check of compilation to durable_rules, chaining, stratified negation and combination.
"""
from __future__ import annotations

import importlib.util

import pytest

from bench.engine import Floor, check, generate, setup, validate_all

HAVE_ZEN = importlib.util.find_spec("zen") is not None


@pytest.fixture(scope="module")
def bench():
    st = setup(with_zen=HAVE_ZEN)
    validated = validate_all(st.ruleset, generate(300, seed=11))
    return st, check(st, validated)


def test_floor_agrees_with_the_engine(bench):
    _st, report = bench
    assert report.n == 300
    assert report.floor["any"] == 0, report.examples
    assert report.floor_order == 0, report.examples


@pytest.mark.skipif(not HAVE_ZEN, reason="zen-engine (requirements-dev.txt) is not installed")
def test_zen_model_agrees_with_the_engine(bench):
    _st, report = bench
    assert report.zen["any"] == 0, report.examples


def test_the_snapshots_exercise_the_ruleset(bench):
    st, report = bench
    # not a vacuous agreement: every level occurs and most rules fire somewhere
    assert set(report.levels) == set(st.ruleset.levels)
    assert len(report.rules_seen) >= 0.8 * len(st.ruleset.rules)
    assert 0.15 <= report.any_risk / report.n <= 0.40


def test_floor_refuses_a_ruleset_it_does_not_match(bench):
    st, _report = bench
    doc = dict(st.doc)
    doc["rules"] = [dict(r, when="card.dpd >= 31") if r["id"] == "OWN-001" else r for r in doc["rules"]]
    with pytest.raises(SystemExit, match="OWN-001"):
        Floor(doc)
