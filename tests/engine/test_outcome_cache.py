"""What depends only on which rules fired is kept per combination of firings; what depends
on the snapshot (values read, reason sentences) is computed for each evaluation."""
from __future__ import annotations

from app.engine import ruleset as ruleset_module

from .helpers import rule, ruleset, snap


def _policy():
    return ruleset([
        rule("HIGH", "card.utilization > 0.80", signals=["high_use"]),
        rule("CUT", "signal(high_use)", actions=[{"reduce_limit": {"percent": 20}}], level="orange",
             reason="utilization is {card.utilization}"),
        rule("LATE", "card.dpd >= 90", actions=["freeze_card"], level="red"),
        rule("OK", "not signal(high_use)", actions=["maintain"]),
    ])


def test_the_same_firings_with_other_values_give_their_own_values_and_reasons():
    rs = _policy()
    first = rs.evaluate(snap(card={"utilization": "0.91", "dpd": 0}))
    second = rs.evaluate(snap(card={"utilization": "0.85", "dpd": 0}))
    assert first.fired == second.fired == ("HIGH", "CUT")
    assert len(rs._outcomes) == 1
    assert [str(f.values["card.utilization"]) for f in (first.firings[0], second.firings[0])] == ["0.91", "0.85"]
    assert "utilization is 0.91" in first.actions[0].reason and "utilization is 0.85" in second.actions[0].reason
    # a rule that reads only signals shows the same firing every time
    ok1, ok2 = (rs.evaluate(snap(card={"utilization": u, "dpd": 0})) for u in ("0.10", "0.20"))
    assert ok1.firings == ok2.firings and ok1.firings[0].values == {}
    assert ok1.to_dict()["trail"] == ok2.to_dict()["trail"]


def test_kept_outcomes_are_bounded_and_results_do_not_depend_on_them(monkeypatch):
    cases = [snap(card={"utilization": u, "dpd": d}) for u in ("0.10", "0.91") for d in (0, 120)]
    fresh = []
    for s in cases:
        rs = _policy()
        fresh.append(rs.evaluate(s, explain="full").to_dict())
    monkeypatch.setattr(ruleset_module, "MAX_OUTCOMES_KEPT", 2)
    rs = _policy()
    for _ in range(3):
        for s, expected in zip(cases, fresh):
            assert rs.evaluate(s, explain="full").to_dict() == expected
            assert len(rs._outcomes) <= 2
