"""bench/engine.py: its contenders agree with the engine, its check before timing catches
a contender that does not, and a tiny run prints every paired ratio. Nothing here is timed.

The floor (straight-line Python) and the zen-engine model are written independently of
the engine: their agreement on generated snapshots (fired rules, final actions with their
parameters, level, review) also checks compilation to durable_rules, chaining, stratified
negation and the combination of actions."""
from __future__ import annotations

import importlib.util
import json

import pytest

import bench.engine as be

HAVE_ZEN = importlib.util.find_spec("zen") is not None
FLOOR = be.floor


@pytest.fixture(scope="module")
def bench():
    st = be.setup(with_zen=HAVE_ZEN)
    raw = be.generate(300, seed=11)
    validated = be.validate_all(st.ruleset, raw)
    zen_inputs = [be.zen_input(d) for d in validated] if HAVE_ZEN else None
    return st, raw, validated, be.contenders(st, raw, validated, zen_inputs)


def test_every_contender_agrees_with_the_engine(bench):
    _st, _raw, _validated, cs = bench
    report = be.check(cs, 300)
    assert set(report.mismatches) == {c.name for c in cs[1:]}
    assert {"engine run", "floor"} <= set(report.mismatches)
    if HAVE_ZEN:
        assert {"zen", "zen trace"} <= set(report.mismatches)
    assert report.ok, report.examples


def test_the_snapshots_exercise_the_ruleset(bench):
    st, _raw, _validated, cs = bench
    report = be.check(cs[:1], 300)
    # not a vacuous agreement: every level occurs and most rules fire somewhere
    assert set(report.levels) == set(st.ruleset.levels)
    assert len(report.rules_seen) >= 0.8 * len(st.ruleset.rules)
    assert 0.15 <= report.any_risk / report.n <= 0.40


def _wrong_floor(d):
    """The floor with the level rule wrong: nobody is ever above yellow."""
    fired, actions, level, review = FLOOR(d)
    return fired, actions, "yellow" if level in ("orange", "red") else level, review


def test_the_check_catches_a_contender_that_differs(bench):
    _st, _raw, validated, cs = bench
    wrong = be.Contender("wrong", lambda i: _wrong_floor(validated[i]), be.floor_outcome, lambda lo, hi: None)
    report = be.check([cs[0], wrong], 300)
    assert not report.ok
    assert report.mismatches["wrong"]["level"] == report.levels["orange"] + report.levels["red"] > 0
    assert report.examples and all(who == "wrong" and kind == "level" for _i, who, kind, _a, _b in report.examples)


def test_a_differing_contender_stops_the_run_before_timing(monkeypatch, capsys):
    monkeypatch.setattr(be, "floor", _wrong_floor)
    assert be.main(["--n", "200", "--block", "50", "--rounds", "1", "--memory", "0", "--no-zen"]) == 1
    out = capsys.readouterr().out
    assert "floor        snapshots that differ: " in out and "nothing timed" in out
    assert "paired ratios" not in out


def test_a_tiny_run_prints_the_paired_ratios(capsys):
    args = ["--n", "60", "--block", "20", "--rounds", "1", "--memory", "120", "--json"]
    assert be.main(args + ([] if HAVE_ZEN else ["--no-zen"])) == 0
    lines = capsys.readouterr().out.splitlines()
    figures = json.loads(lines[-1])
    assert figures["passes"] == 3
    expected = {"engine / floor", "engine run / zen", "engine / zen", "engine / zen trace"} if HAVE_ZEN else \
        {"engine / floor"}
    assert set(figures["ratios"]) == expected
    for median, low, high in figures["ratios"].values():
        assert 0 < low <= median <= high
    assert all(rate > 0 for rate in figures["rates"].values())
    assert any(line.startswith("  engine / zen fast with trace") for line in lines) or not HAVE_ZEN
    assert "rss_growth_mib" in figures


def test_the_floor_refuses_a_ruleset_it_does_not_match(bench):
    st = bench[0]
    doc = dict(st.doc)
    doc["rules"] = [dict(r, when="card.dpd >= 31") if r["id"] == "OWN-001" else r for r in doc["rules"]]
    with pytest.raises(SystemExit, match="OWN-001"):
        be.check_texts(doc, be.FLOOR_WHEN, "the floor")
    with pytest.raises(SystemExit, match="OWN-001"):
        be.build_jdm(doc)
