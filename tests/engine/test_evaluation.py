"""Forward chaining, agenda order, negation, lists, missing values, decimals, combination."""
from __future__ import annotations

import sys
from decimal import Decimal

import pytest

from app.engine import LoopBoundExceeded, SnapshotInvalid

from .helpers import contract, rule, ruleset, snap


def test_engine_imports_without_flask():
    import subprocess
    code = "import sys, app.engine; assert 'flask' not in sys.modules, 'flask imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_chaining_signal_then_action():
    rs = ruleset([
        rule("S1", "overdue_6m >= 2", signals=["external"]),
        rule("A1", "signal(external) and card.utilization > 0.80", level="orange",
             actions=[{"reduce_limit": {"percent": 30}}]),
    ])
    ev = rs.evaluate(snap(overdue_6m=3, card={"utilization": "0.85"}))
    assert ev.fired == ("S1", "A1")
    assert ev.signals == ("external",)
    assert ev.level == "orange" and ev.review_frequency == "monthly"
    assert [(a.action, dict(a.params)) for a in ev.actions] == [("reduce_limit", {"percent": 30})]
    first = ev.firings[0]
    assert first.used_by == ("A1",)
    assert dict(first.values) == {"overdue_6m": 3}
    assert dict(ev.firings[1].values) == {"card.utilization": Decimal("0.8500")}
    # no signal, no chained action
    ev = rs.evaluate(snap(overdue_6m=1, card={"utilization": "0.85"}))
    assert ev.fired == () and ev.level == "green" and ev.review_frequency == "annual"


def test_chain_of_three_derives_in_order():
    rs = ruleset([
        rule("C", "signal(b)", signals=["c"]),
        rule("B", "signal(a)", signals=["b"]),
        rule("A", "overdue_6m > 0", signals=["a"]),
        rule("D", "signal(c) and signal(a)", level="red"),
    ])
    ev = rs.evaluate(snap(overdue_6m=1))
    assert ev.fired == ("A", "B", "C", "D")
    assert ev.level == "red"


def test_priority_then_rule_id_tie_break():
    rs = ruleset([
        rule("Z-low", "overdue_6m > 0", priority=1),
        rule("B-high", "overdue_6m > 0", priority=10),
        rule("A-high", "overdue_6m > 0", priority=10),
        rule("M-mid", "overdue_6m > 0", priority=5),
        rule("neg", "overdue_6m > 0", priority=-5),
    ])
    ev = rs.evaluate(snap(overdue_6m=1))
    assert ev.fired == ("A-high", "B-high", "M-mid", "Z-low", "neg")
    assert [f.order for f in ev.firings] == [1, 2, 3, 4, 5]


def test_order_does_not_depend_on_file_order():
    rules = [rule("R1", "overdue_6m > 0", priority=3), rule("R2", "overdue_6m > 0", priority=3),
             rule("R3", "overdue_6m > 0", priority=7)]
    a = ruleset(rules).evaluate(snap(overdue_6m=1))
    b = ruleset(list(reversed(rules))).evaluate(snap(overdue_6m=1))
    assert a.fired == b.fired == ("R3", "R1", "R2")


def test_chained_rule_with_higher_priority_fires_next():
    # A derived signal activates a higher-priority rule: it fires before lower pending ones.
    rs = ruleset([
        rule("S", "overdue_6m > 0", priority=50, signals=["s"]),
        rule("LOW", "overdue_6m > 0", priority=1),
        rule("HIGH", "signal(s)", priority=40),
    ])
    assert rs.evaluate(snap(overdue_6m=1)).fired == ("S", "HIGH", "LOW")


@pytest.mark.parametrize("negation_first", [True, False])
@pytest.mark.parametrize("deriver_priority", [-100, 0, 100])
def test_negation_never_depends_on_assertion_order(negation_first, deriver_priority):
    """'no legal-risk signal' is decided only after every rule that can derive it has run."""
    deriver = rule("LEGAL", "overdue_6m >= 1", priority=deriver_priority, signals=["legal_risk"])
    late = rule("LATE", "signal(legal_risk)", priority=-200, signals=["legal_confirmed"])
    guard = rule("ONLY-WATCH", "card.utilization > 0.8 and not signal(legal_risk) and not signal(legal_confirmed)",
                 priority=1000, actions=["watchlist"])
    rules = [guard, deriver, late] if negation_first else [late, deriver, guard]
    rs = ruleset(rules)
    with_risk = rs.evaluate(snap(overdue_6m=1, card={"utilization": "0.9"}))
    assert "ONLY-WATCH" not in with_risk.fired
    assert set(with_risk.fired) == {"LEGAL", "LATE"}
    without = rs.evaluate(snap(overdue_6m=0, card={"utilization": "0.9"}))
    assert without.fired == ("ONLY-WATCH",)


def test_negation_over_several_levels_of_signals():
    rs = ruleset([
        rule("A", "overdue_6m > 0", signals=["a"]),
        rule("B", "not signal(a)", signals=["b"]),          # waits for A
        rule("C", "not signal(b)", signals=["c"]),          # waits for B, so for A
        rule("D", "signal(c) or signal(b)", level="yellow"),
    ])
    assert rs.evaluate(snap(overdue_6m=1)).fired == ("A", "C", "D")
    assert rs.evaluate(snap(overdue_6m=0)).fired == ("B", "D")


def test_a_negated_rule_waits_only_for_the_rules_deriving_its_signal():
    # The guide: the activated rule with the highest priority fires first, and a rule
    # reading not signal(x) waits for the rules that can derive x, and for nothing else.
    rs = ruleset([
        rule("DERIVE", "overdue_6m >= 5", priority=60, signals=["x"]),
        rule("NEG", "not signal(x)", priority=50, level="yellow"),
        rule("LOW", "overdue_6m >= 1", priority=20, level="orange"),
    ])
    assert rs.evaluate(snap(overdue_6m=1)).fired == ("NEG", "LOW")
    assert rs.evaluate(snap(overdue_6m=5)).fired == ("DERIVE", "LOW")
    # a deriver of lower priority than an unrelated rule: the negated rule waits for it
    slow = ruleset([
        rule("DERIVE", "overdue_6m >= 5", priority=10, signals=["x"]),
        rule("NEG", "not signal(x)", priority=50, level="yellow"),
        rule("LOW", "overdue_6m >= 1", priority=20, level="orange"),
    ])
    assert slow.evaluate(snap(overdue_6m=5)).fired == ("LOW", "DERIVE")
    assert slow.evaluate(snap(overdue_6m=1)).fired == ("NEG", "LOW")
    # through a chain: x is decided once the rule deriving it from y is out of the race
    chain = ruleset([
        rule("Y", "overdue_6m >= 5", priority=70, signals=["y"]),
        rule("X", "signal(y) and card.dpd > 30", priority=60, signals=["x"]),
        rule("NEG", "not signal(x)", priority=50, level="yellow"),
        rule("LOW", "overdue_6m >= 1", priority=20, level="orange"),
    ])
    assert chain.evaluate(snap(overdue_6m=5, card={"dpd": 10})).fired == ("Y", "NEG", "LOW")
    assert chain.evaluate(snap(overdue_6m=5, card={"dpd": 40})).fired == ("Y", "X", "LOW")


def test_or_across_signals_fires_once():
    rs = ruleset([
        rule("A", "overdue_6m > 0", signals=["a"]),
        rule("B", "overdue_6m > 1", signals=["b"]),
        rule("EITHER", "signal(a) or signal(b) or card.dpd > 30", level="yellow"),
    ])
    ev = rs.evaluate(snap(overdue_6m=5, card={"dpd": 40}))
    assert ev.fired.count("EITHER") == 1
    assert rs.evaluate(snap(overdue_6m=0, card={"dpd": 40})).fired == ("EITHER",)
    assert rs.evaluate(snap(overdue_6m=0, card={"dpd": 10})).fired == ()


LIST_RULES = [
    rule("ANY90", "any(l in loans: l.dpd >= 90)", actions=["freeze_card"]),
    rule("ALLCLEAN", "all(l in loans: l.dpd == 0)", actions=["maintain"]),
    rule("NOTANY", "not any(l in loans: l.restructured)", actions=["contact_customer"]),
    rule("COUNT2", "count(l in loans: l.dpd >= 30) >= 2", level="orange"),
    rule("SUM", "sum(l in loans: l.outstanding) > customer.income * 12", level="yellow"),
    rule("TAG", "any(t in tags: t == \"fraud\")", level="red"),
]


@pytest.mark.parametrize("loans,expected", [
    ([], {"ALLCLEAN", "NOTANY", "SUM_NO"}),
    ([{"dpd": 0, "outstanding": "10", "restructured": False}], {"ALLCLEAN", "NOTANY"}),
    ([{"dpd": 95, "outstanding": "10"}, {"dpd": 31, "outstanding": "5", "restructured": False}],
     {"ANY90", "COUNT2"}),
    ([{"dpd": 0, "outstanding": "10", "restructured": True}], {"ALLCLEAN"}),
    # one element lacks dpd: all() is unknown, not true; count counts the known ones
    ([{"outstanding": "1", "restructured": False}, {"dpd": 0, "outstanding": "1", "restructured": False}],
     {"NOTANY"}),
])
def test_any_all_count_over_lists(loans, expected):
    rs = ruleset(LIST_RULES)
    ev = rs.evaluate(snap(loans=loans, customer={"id": "x", "income": "1000"}))
    assert set(ev.fired) == expected - {"SUM_NO"}


def test_missing_list_makes_quantifiers_unknown():
    rs = ruleset(LIST_RULES)
    ev = rs.evaluate(snap(customer={"id": "x", "income": "1"}))
    assert ev.fired == ()


def test_sum_and_list_of_scalars():
    rs = ruleset(LIST_RULES)
    ev = rs.evaluate(snap(customer={"id": "x", "income": "100"}, tags=["vip", "fraud"],
                          loans=[{"dpd": 0, "outstanding": "1000.01", "restructured": False},
                                 {"dpd": 0, "outstanding": "200", "restructured": False}]))
    assert {"SUM", "TAG"} <= set(ev.fired)
    assert ev.level == "red"
    sum_firing = next(f for f in ev.firings if f.rule == "SUM")
    assert sum_firing.values["loans[0].outstanding"] == Decimal("1000.01")
    assert sum_firing.values["customer.income"] == Decimal("100.00")


def test_missing_optional_fields_are_unknown_in_both_directions():
    rs = ruleset([
        rule("GT", "card.dpd > 30", level="yellow"),
        rule("NOTGT", "not (card.dpd > 30)", actions=["maintain"]),
        rule("NE", "customer.segment != \"mass\"", actions=["contact_customer"]),
        rule("NOTIN", "customer.segment not in [\"mass\"]", actions=["watchlist"]),
        rule("MISSING", "missing(card.dpd)", review="quarterly"),
        rule("PRESENT", "present(card.dpd)", review="monthly"),
        rule("OR", "card.dpd > 30 or overdue_6m > 0", level="orange"),
        rule("FLAG", "not customer.employed", level="red"),
    ])
    ev = rs.evaluate(snap(overdue_6m=1))
    assert set(ev.fired) == {"MISSING", "OR"}
    ev = rs.evaluate(snap(card={"dpd": 10}, customer={"id": "a", "segment": "affluent", "employed": False}))
    assert set(ev.fired) == {"NOTGT", "NE", "NOTIN", "PRESENT", "FLAG"}


def test_decimals_are_exact():
    rs = ruleset([
        rule("SUB", "card.limit - card.balance >= 0.1", level="yellow"),
        rule("RATIO", "card.balance / card.limit > 0.8", level="orange"),
        rule("ADD", "card.balance + card.limit == 0.3", actions=["contact_customer"]),
        rule("EDGE", "card.utilization >= 0.8", actions=["watchlist"]),
    ])
    # floats would say 0.3 - 0.2 < 0.1 and 0.1 + 0.2 != 0.3
    ev = rs.evaluate(snap(card={"limit": "0.3", "balance": "0.2", "utilization": "0.8"}))
    assert set(ev.fired) == {"SUB", "EDGE"}
    ev = rs.evaluate(snap(card={"limit": "0.2", "balance": "0.1", "utilization": "0.7999"}))
    assert set(ev.fired) == {"ADD", "SUB"}  # 0.2 - 0.1 >= 0.1 exactly
    # exactly at the ratio threshold does not fire; one cent above does
    assert "RATIO" not in rs.evaluate(snap(card={"limit": "1000", "balance": "800"})).fired
    assert "RATIO" in rs.evaluate(snap(card={"limit": "1000", "balance": "800.01"})).fired
    # a zero limit makes the ratio unknown, not an error
    assert "RATIO" not in rs.evaluate(snap(card={"limit": "0", "balance": "5"})).fired


def test_dates_and_strings():
    rs = ruleset([
        rule("OLD", "as_of < date(\"2026-01-01\")", review="quarterly"),
        rule("CASINO", "matches(customer.employer, \"(?i).*casino.*\")", level="yellow"),
        rule("BANK", "ends_with(customer.employer, \"Bank\") or contains(customer.employer, \"Credit\")",
             actions=["contact_customer"]),
    ])
    ev = rs.evaluate(snap(as_of="2025-12-31", customer={"id": "a", "employer": "Lucky Casino Ltd"}))
    assert set(ev.fired) == {"OLD", "CASINO"}
    ev = rs.evaluate(snap(as_of="2026-01-01", customer={"id": "a", "employer": "First Bank"}))
    assert ev.fired == ("BANK",)


def test_combination_largest_cut_and_freeze_override():
    rs = ruleset([
        rule("CUT20", "overdue_6m >= 1", actions=[{"reduce_limit": {"percent": 20}}], level="yellow"),
        rule("CUT40", "overdue_6m >= 2", actions=[{"reduce_limit": {"percent": 40}}], level="orange"),
        rule("CUT40B", "overdue_6m >= 2", actions=[{"reduce_limit": {"percent": 40}}]),
        rule("FREEZE", "overdue_6m >= 5", actions=["freeze_card"], level="red"),
    ])
    ev = rs.evaluate(snap(overdue_6m=2))
    assert [(a.action, dict(a.params), a.rules) for a in ev.actions] == [
        ("reduce_limit", {"percent": 40}, ("CUT40", "CUT40B"))]
    assert [(o.action, dict(o.params), o.by) for o in ev.overridden] == [("reduce_limit", {"percent": 20}, "reduce_limit")]
    assert ev.level == "orange" and ev.level_rules == ("CUT40",)
    ev = rs.evaluate(snap(overdue_6m=5))
    assert [a.action for a in ev.actions] == ["freeze_card"]
    cut = [o for o in ev.overridden if o.by == "freeze_card"]
    assert cut and cut[0].by_rules == ("FREEZE",) and dict(cut[0].params) == {"percent": 40}
    assert ev.level == "red"


def test_adverse_actions_carry_reason_sentences():
    rs = ruleset([
        rule("CUT", "overdue_6m >= 2 and card.utilization > 0.80", title="Overdue elsewhere, high use",
             clause="RCP 4.2(a)", actions=[{"reduce_limit": {"percent": 30}}]),
        rule("FREEZE", "card.dpd >= 90", title="Ninety days past due", clause="RCP 5.3", actions=["freeze_card"],
             reason="the card is {card.dpd} days past due"),
    ])
    ev = rs.evaluate(snap(overdue_6m=3, card={"utilization": "0.91"}))
    reason = ev.actions[0].reason
    assert "Overdue elsewhere, high use [RCP 4.2(a)]" in reason
    assert "overdue_6m is 3 (policy: >= 2)" in reason
    assert "card.utilization is 0.91 (policy: > 0.80)" in reason
    ev = rs.evaluate(snap(card={"dpd": 120}))
    assert ev.actions[0].reason == "Freeze the card because Ninety days past due [RCP 5.3]: the card is 120 days past due."


def test_explain_full_lists_unfired_rules_with_first_failure():
    rs = ruleset([
        rule("HIT", "overdue_6m >= 1"),
        rule("MISS", "overdue_6m >= 1 and card.utilization > 0.80"),
        rule("ABSENT", "card.dpd >= 30"),
        rule("NOSIG", "signal(zzz)"),
        rule("MAKE", "overdue_6m > 50", signals=["zzz"]),
    ])
    ev = rs.evaluate(snap(overdue_6m=2, card={"utilization": "0.5"}), explain="full")
    failed = {n.rule: dict(n.failed) for n in ev.not_fired}
    assert set(failed) == {"MISS", "ABSENT", "NOSIG", "MAKE"}
    assert failed["MISS"]["condition"] == "card.utilization > 0.80"
    assert failed["MISS"]["actual"] == Decimal("0.5000") and failed["MISS"]["threshold"] == Decimal("0.80")
    assert failed["ABSENT"]["note"] == "value missing"
    assert "not derived" in failed["NOSIG"]["note"]
    assert rs.evaluate(snap(overdue_6m=2)).not_fired is None
    d = ev.to_dict()
    assert d["not_fired"][0]["failed"]["actual"] is None or isinstance(d["not_fired"][0]["failed"], dict)


def test_result_is_frozen_and_json_safe():
    import dataclasses
    import json
    rs = ruleset([rule("A", "card.utilization > 0.5", actions=[{"reduce_limit": {"percent": 10}}])])
    ev = rs.evaluate(snap(card={"utilization": "0.75"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.level = "red"
    d = ev.to_dict()
    json.dumps(d)
    assert d["trail"][0]["values"] == {"card.utilization": "0.75"}
    assert d["ruleset"] == {"id": "t", "version": 1, "hash": rs.hash}


def test_loop_bound_stops_and_reports():
    rs = ruleset([rule(f"R{i}", "overdue_6m >= 0", signals=[f"s{i}"]) for i in range(5)])
    with pytest.raises(LoopBoundExceeded):
        rs.run(rs.contract.validate(snap(overdue_6m=1)), max_firings=3)
    # the engine is still usable afterwards, with the whole result
    assert len(rs.evaluate(snap(overdue_6m=1)).fired) == 5


def test_snapshot_is_validated_before_the_engine_sees_it():
    rs = ruleset([rule("A", "overdue_6m > 30")])
    with pytest.raises(SnapshotInvalid) as exc:
        rs.evaluate(snap(overdue_6m="45"))
    assert exc.value.errors == [{"path": "overdue_6m", "message": "\"45\" is not an integer"}]


def test_versions_side_by_side():
    from .helpers import ruleset_doc
    from app.engine import Ruleset
    c = contract()
    v1 = Ruleset(ruleset_doc([rule("A", "overdue_6m > 1", level="yellow")]), c)
    v2 = Ruleset(dict(ruleset_doc([rule("A", "overdue_6m > 1", level="red")]), version=2), c)
    again = Ruleset(ruleset_doc([rule("A", "overdue_6m > 1", level="yellow")]), c)
    for _ in range(3):
        assert v1.evaluate(snap(overdue_6m=2)).level == "yellow"
        assert v2.evaluate(snap(overdue_6m=2)).level == "red"
        assert again.evaluate(snap(overdue_6m=2)).level == "yellow"
    assert v1.hash == again.hash != v2.hash


def test_an_overridden_action_does_not_override_others():
    import copy
    from .helpers import ACTIONS
    actions = copy.deepcopy(ACTIONS)
    actions["watchlist"]["overridden_by"] = ["reduce_limit"]
    rs = ruleset([rule("W", "overdue_6m >= 1", actions=["watchlist"]),
                  rule("C", "overdue_6m >= 2", actions=[{"reduce_limit": {"percent": 10}}]),
                  rule("F", "overdue_6m >= 3", actions=["freeze_card"])], actions=actions)
    ev = rs.evaluate(snap(overdue_6m=3))
    assert sorted(a.action for a in ev.actions) == ["freeze_card", "watchlist"]
    assert [(o.action, o.by) for o in ev.overridden] == [("reduce_limit", "freeze_card")]
    ev = rs.evaluate(snap(overdue_6m=2))
    assert [a.action for a in ev.actions] == ["reduce_limit"]
    assert [(o.action, o.by) for o in ev.overridden] == [("watchlist", "reduce_limit")]


def test_hash_follows_the_order_of_levels():
    from .helpers import ruleset_doc
    from app.engine import Ruleset
    doc = ruleset_doc([rule("A", "overdue_6m > 1", level="orange")])
    swapped = dict(doc, levels=dict(reversed(list(doc["levels"].items()))))
    a, b = Ruleset(doc, contract()), Ruleset(swapped, contract())
    assert a.hash != b.hash
    assert a.evaluate(snap(overdue_6m=2)).level == "orange"
    reordered_keys = dict(reversed(list(doc.items())))
    assert Ruleset(reordered_keys, contract()).hash == a.hash


def test_closing_a_ruleset_frees_its_handle_and_it_still_works():
    import gc
    rs = ruleset([rule("A", "overdue_6m > 1")])
    assert rs.evaluate(snap(overdue_6m=2)).fired == ("A",)
    rs.close()
    assert not rs.matcher.loaded
    assert rs.evaluate(snap(overdue_6m=2)).fired == ("A",)
    assert rs.matcher.handles_created == 2
    # garbage-collected rulesets give their handles back too
    from app.engine import runtime
    before = runtime.RELEASED["handles"]
    for _ in range(200):
        r = ruleset([rule("A", "overdue_6m > 1")])
        r.evaluate(snap(overdue_6m=2))
        del r
    gc.collect()
    assert runtime.RELEASED["handles"] - before >= 200
