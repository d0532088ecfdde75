"""Static checks and the rule-level diff that reviewers see on submit."""
from __future__ import annotations

import copy
from pathlib import Path

from app.engine import load_library, read_yaml
from app.engine.analysis import analyse
from app.engine.diff import diff_rulesets

from .helpers import rule, ruleset

ROOT = Path(__file__).resolve().parents[2]


def findings(rules):
    return {(f.check, f.rule) for f in analyse(ruleset(rules))}, analyse(ruleset(rules))


def test_shipped_rulesets_have_no_findings():
    lib = load_library(ROOT / "rulesets", ROOT / "schemas")
    for rs in lib.rulesets():
        assert [f.to_dict() for f in analyse(rs)] == [], rs.id


def test_contradictions_never_fire():
    got, _ = findings([
        rule("A", "overdue_6m > 5 and overdue_6m < 3"),
        rule("B", 'customer.segment == "mass" and customer.segment in ["affluent"]'),
        rule("C", "missing(card.dpd) and card.dpd > 3"),
        rule("D", "card.dpd >= 30 and not (card.dpd >= 10)"),
        rule("E", "(overdue_6m > 5 and overdue_6m < 3) or signal(dead)"),
        rule("F", "overdue_6m > 5 and overdue_6m < 3", signals=["dead"]),
        rule("OK1", "overdue_6m >= 3 and overdue_6m <= 3"),
        rule("OK2", "overdue_6m > 5 or overdue_6m < 3"),
        rule("OK3", "card.utilization * 2 > 1 and card.utilization < 0.1"),   # not analysed: assumed possible
    ])
    never = {r for c, r in got if c == "never_fires"}
    assert never == {"A", "B", "C", "D", "E", "F"}


def test_duplicates_and_shadowed_rules():
    got, all_findings = findings([
        rule("WIDE", "overdue_6m >= 2", actions=[{"reduce_limit": {"percent": 40}}], level="orange"),
        rule("NARROW", "overdue_6m >= 3 and card.dpd > 0", actions=[{"reduce_limit": {"percent": 30}}],
             level="yellow"),
        rule("STRONGER", "overdue_6m >= 3", actions=[{"reduce_limit": {"percent": 50}}]),
        rule("TWIN1", "card.dpd >= 90", actions=["freeze_card"]),
        rule("TWIN2", "card.dpd >= 90", actions=["freeze_card"]),
    ])
    assert ("shadowed", "NARROW") in got
    assert ("shadowed", "STRONGER") not in got   # a bigger cut than WIDE: it matters
    assert ("duplicate", "TWIN2") in got and ("duplicate", "TWIN1") not in got
    narrow = next(f for f in all_findings if f.rule == "NARROW")
    assert narrow.related == ("WIDE",)


def test_conflicting_actions_and_unused_signals():
    from .helpers import ACTIONS
    actions = copy.deepcopy(ACTIONS)
    actions["reduce_limit"]["combine"] = "once"
    rs = ruleset([rule("A", "overdue_6m >= 2", actions=[{"reduce_limit": {"percent": 20}}]),
                  rule("B", "overdue_6m >= 3", actions=[{"reduce_limit": {"percent": 30}}]),
                  rule("S", "card.dpd > 1", signals=["orphan"])], actions=actions)
    checks = {f.check: f for f in analyse(rs)}
    assert set(checks["conflicting_action"].related) == {"A", "B"}
    assert "orphan" in checks["unused_signal"].message


def test_diff_shows_exactly_the_changed_rule():
    old = read_yaml(ROOT / "rulesets" / "retail_card.yaml")
    new = copy.deepcopy(old)
    new["version"] = old["version"] + 1
    target = new["rules"][4]
    target["when"] = target["when"] + " and customer.months_on_book > 3"
    added = {"id": "NEW-001", "title": "new", "clause": "x", "when": "card.dpd > 1", "level": "yellow"}
    new["rules"].append(added)
    removed = new["rules"].pop(0)
    d = diff_rulesets(old, new)
    assert [c["rule"] for c in d["changed"]] == [target["id"]]
    assert set(d["changed"][0]["changes"]) == {"when"}
    assert d["changed"][0]["changes"]["when"]["after"].endswith("and customer.months_on_book > 3")
    assert [a["rule"] for a in d["added"]] == ["NEW-001"]
    assert [r["rule"] for r in d["removed"]] == [removed["id"]]
    assert d["other"] == {} and d["from_version"] + 1 == d["to_version"]
    assert d["unchanged"] == len(old["rules"]) - 2
