"""Follow-up declarations on a ruleset's actions and overdue_follow_up(action): checked
with rule id, field path and what is wrong; covered by the static checks; evaluated on
the follow-up facts a decision is given (and a scenario states)."""
from __future__ import annotations

import copy

import pytest

from app.engine import RulesetInvalid
from app.engine.analysis import analyse
from app.engine.followup import FOLLOW_UP, split_facts
from app.engine.scenarios import check_scenario

from .helpers import ACTIONS, rule, ruleset, snap

CONTACT = {"role": "relationship_manager", "within_days": {"red": 2, "yellow": 15, "default": 30},
           "evidence": ["note", "contact_date", "outcome"], "outcomes": ["reached", "no_answer"]}


def actions(**follow_ups) -> dict:
    out = copy.deepcopy(ACTIONS)
    out["contact_customer"] = {"title": "Contact the customer"}
    for name, body in follow_ups.items():
        out[name]["follow_up"] = body
    return out


def problems(follow_up, rules=None) -> list[dict]:
    with pytest.raises(RulesetInvalid) as exc:
        ruleset(rules or [rule("R1", "card.dpd >= 30", actions=["contact_customer"])],
                actions=actions(contact_customer=follow_up))
    return [p.to_dict() for p in exc.value.problems]


def test_a_declaration_is_parsed_with_days_per_level():
    rs = ruleset([rule("R1", "card.dpd >= 30", actions=["contact_customer"])], actions=actions(contact_customer=CONTACT))
    spec = rs.actions["contact_customer"].follow_up
    assert spec.role == "relationship_manager" and spec.evidence == ("note", "contact_date", "outcome")
    assert (spec.days_for("red"), spec.days_for("yellow"), spec.days_for("orange"), spec.days_for(None)) == (2, 15, 30, 30)
    assert spec.outcomes == ("reached", "no_answer")


@pytest.mark.parametrize("change, path, words", [
    ({"role": "Relationship Manager"}, "actions.contact_customer.follow_up.role", "lower_snake_case"),
    ({"within_days": {"purple": 3, "default": 5}}, "actions.contact_customer.follow_up.within_days.purple",
     "not a level"),
    ({"within_days": {"red": 0, "default": 5}}, "actions.contact_customer.follow_up.within_days.red", "1 to 366"),
    ({"within_days": {"red": 2}}, "actions.contact_customer.follow_up.within_days", "green, yellow, orange"),
    ({"within_days": "soon"}, "actions.contact_customer.follow_up.within_days", "whole number"),
    ({"within_days": True}, "actions.contact_customer.follow_up.within_days", "whole number"),
    ({"evidence": ["note", "photo"]}, "actions.contact_customer.follow_up.evidence", "note, contact_date, outcome"),
    ({"evidence": ["note", "note"]}, "actions.contact_customer.follow_up.evidence", "each once"),
    ({"outcomes": []}, "actions.contact_customer.follow_up.outcomes", "outcomes to choose from"),
    ({"evidence": ["note"]}, "actions.contact_customer.follow_up.outcomes", "only for evidence that includes outcome"),
    ({"owner": "x"}, "actions.contact_customer.follow_up.owner", "unknown key"),
])
def test_a_bad_declaration_names_its_path_and_what_is_wrong(change, path, words):
    body = {**CONTACT, **change}
    found = problems(body)
    assert any(p.get("path") == path and words in p["message"] for p in found), found


def test_overdue_follow_up_needs_an_action_with_a_follow_up():
    found = problems(CONTACT, [rule("R1", "card.dpd >= 30", actions=["contact_customer"]),
                               rule("R2", "overdue_follow_up(contact_customr)", level="orange"),
                               rule("R3", "overdue_follow_up(freeze_card)", level="orange"),
                               rule("R4", "any(l in loans: overdue_follow_up(contact_customer))", level="orange")])
    by_rule = {p["rule"]: p for p in found}
    assert "unknown action 'contact_customr'" in by_rule["R2"]["message"] and "contact_customer" in \
        by_rule["R2"]["message"]
    assert "declares no follow_up" in by_rule["R3"]["message"]
    assert "inside any/all/count/sum" in by_rule["R4"]["message"]
    assert {p["path"] for p in found} == {"when"}


def test_overdue_follow_up_reads_the_facts_the_decision_is_given():
    rs = ruleset([rule("R1", "card.dpd >= 30", actions=["contact_customer"]),
                  rule("ESC", "overdue_follow_up(contact_customer)", level="orange", actions=["watchlist"])],
                 actions=actions(contact_customer=CONTACT))
    quiet = rs.evaluate(snap())
    assert quiet.fired == () or "ESC" not in quiet.fired
    given = rs.evaluate({**snap(), FOLLOW_UP: {"overdue": ["contact_customer"]}}, explain="full")
    assert "ESC" in given.fired and given.level == "orange"
    [firing] = [f for f in given.firings if f.rule == "ESC"]
    assert firing.values == {"overdue_follow_up(contact_customer)": True}
    other = rs.evaluate({**snap(), FOLLOW_UP: {"overdue": ["freeze_card"]}})
    assert "ESC" not in other.fired
    # a snapshot without facts, and facts of the wrong shape, read as nothing overdue
    assert split_facts({**snap(), FOLLOW_UP: {"overdue": "contact_customer"}})[1] == {"overdue": []}


def test_a_scenario_states_the_follow_up_facts():
    rs = ruleset([rule("R1", "card.dpd >= 30", actions=["contact_customer"]),
                  rule("ESC", "overdue_follow_up(contact_customer)", level="orange", actions=["watchlist"])],
                 actions=actions(contact_customer=CONTACT))
    bases = {"b": snap()}
    passed = check_scenario(rs, {"name": "missed", "base": "b", "follow_up": {"overdue": ["contact_customer"]},
                                 "expect": {"fired": ["ESC"], "level": "orange"}}, bases)
    assert passed.passed, passed.diffs
    failed = check_scenario(rs, {"name": "not missed", "base": "b",
                                 "expect": {"fired": ["ESC"], "level": "orange"}}, bases)
    assert not failed.passed


def test_static_checks_name_follow_ups_no_rule_uses():
    rs = ruleset([rule("R1", "card.dpd >= 30", actions=["watchlist"]),
                  rule("ESC", "overdue_follow_up(contact_customer)", level="orange", actions=["watchlist"])],
                 actions=actions(contact_customer=CONTACT))
    found = [f for f in analyse(rs) if f.check == "follow_up"]
    assert {f.rule for f in found} == {None, "ESC"}
    assert any("contact_customer declares a follow_up but no rule recommends it" in f.message for f in found)
