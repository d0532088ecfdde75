"""Plausibility: a valid but implausible value does not block a decision; the rules read
it as missing, ``data_issue(path)`` lets a rule react, and the result names it."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from app.engine import RulesetInvalid, SnapshotInvalid
from app.engine.masking import Masker

from .helpers import CONTRACT, contract, rule, ruleset, snap


def plausible_contract():
    fields = copy.deepcopy(CONTRACT["fields"])
    fields["card"]["fields"]["utilization"]["plausible"] = {"min": 0, "max": 2}
    fields["customer"]["fields"]["income"].update(plausible={"min": 100}, personal=True)
    return contract(fields)


RULES = [
    rule("UTL", "card.utilization > 0.8", actions=[{"reduce_limit": {"percent": 20}}]),
    rule("UTL-MISSING", "missing(card.utilization)", level="yellow"),
    rule("DQ-UTL", "data_issue(card.utilization)", actions=["contact_customer"], level="orange"),
    rule("DQ-INCOME", "data_issue(customer.income) and card.dpd > 30", actions=["watchlist"]),
]


def test_an_implausible_value_is_read_as_missing_flagged_and_reacted_to():
    rs = ruleset(RULES, plausible_contract())
    ev = rs.evaluate(snap(card={"utilization": "4.5071", "dpd": 0}))
    assert ev.fired == ("DQ-UTL", "UTL-MISSING")
    assert ev.level == "orange" and ev.action_names == ("contact_customer",)
    assert [f.to_dict() for f in ev.data_quality] == [
        {"field": "card.utilization", "value": "4.5071", "expectation": "between 0 and 2"}]
    out = ev.to_dict()
    assert out["data_quality"] == [{"field": "card.utilization", "value": "4.5071", "expectation": "between 0 and 2"}]
    dq = next(f for f in out["trail"] if f["rule"] == "DQ-UTL")
    assert dq["values"] == {"data_issue(card.utilization)": True}


def test_a_plausible_value_is_used_and_not_flagged():
    rs = ruleset(RULES, plausible_contract())
    ev = rs.evaluate(snap(card={"utilization": "1.5000", "dpd": 0}))
    assert ev.fired == ("UTL",) and ev.data_quality == ()
    assert ev.to_dict()["data_quality"] == []


def test_validity_still_refuses_with_the_value_named():
    with pytest.raises(SnapshotInvalid) as exc:
        plausible_contract().validate(snap(card={"utilization": "507.08"}))
    assert exc.value.errors == [{"path": "card.utilization", "message": "507.08 is above the maximum 5"}]
    assert str(exc.value) == "card.utilization: 507.08 is above the maximum 5"


def test_a_personal_value_is_never_repeated_in_an_error_and_masked_in_a_finding():
    with pytest.raises(SnapshotInvalid) as exc:
        plausible_contract().validate(snap(customer={"id": "c1", "income": "-1"}))
    assert exc.value.errors == [{"path": "customer.income",
                                 "message": "the value (personal, not shown) is below the minimum 0"}]
    rs = ruleset(RULES, plausible_contract())
    masker = Masker("k" * 32)
    ev = rs.evaluate(snap(customer={"id": "c1", "income": "1.00"}, card={"dpd": 45}),
                     mask=masker.redaction(rs.contract))
    assert ev.fired == ("DQ-INCOME", "UTL-MISSING")
    [finding] = ev.to_dict()["data_quality"]
    assert finding == {"field": "customer.income", "value": masker.token(Decimal("1.00")),
                       "expectation": "at least 100"}
    unmasked = rs.evaluate(snap(customer={"id": "c1", "income": "1.00"}, card={"dpd": 45}))
    assert unmasked.to_dict()["data_quality"][0]["value"] == "1.00"


def test_the_snapshot_given_is_not_changed():
    rs = ruleset(RULES, plausible_contract())
    data = rs.contract.validate(snap(card={"utilization": "3", "dpd": 0}))
    before = copy.deepcopy(data)
    rs.run(data)
    assert data == before


def test_data_issue_on_a_field_without_a_plausible_range_is_refused():
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("X", "data_issue(card.dpd)")], plausible_contract())
    assert "never true: the contract declares no plausible range for card.dpd" in str(exc.value)
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("X", "any(l in loans: data_issue(l.dpd))")], plausible_contract())
    assert "data_issue applies to fields outside lists" in str(exc.value)


@pytest.mark.parametrize("plausible,message", [
    ({"min": 3, "max": 1}, "min is greater than max"),
    ({"max": 9}, "the plausible bound 9 lies outside the valid range 0 to 5"),
    ({"below": 1}, "plausible is a mapping with min, max or both"),
    ("0..2", "plausible is a mapping with min, max or both"),
])
def test_a_bad_plausible_declaration_is_refused(plausible, message):
    fields = copy.deepcopy(CONTRACT["fields"])
    fields["card"]["fields"]["utilization"]["plausible"] = plausible
    with pytest.raises(RulesetInvalid) as exc:
        contract(fields)
    assert message in str(exc.value) and "card.utilization.plausible" in str(exc.value)


def test_plausible_on_text_or_inside_a_list_is_refused():
    fields = copy.deepcopy(CONTRACT["fields"])
    fields["customer"]["fields"]["segment"]["plausible"] = {"min": 1}
    fields["loans"]["items"]["fields"]["dpd"]["plausible"] = {"max": 100}
    with pytest.raises(RulesetInvalid) as exc:
        contract(fields)
    assert "plausible applies to numbers only" in str(exc.value)
    assert "plausible applies to fields outside lists only" in str(exc.value)


def test_the_contract_describes_its_plausible_ranges():
    described = plausible_contract().describe()["fields"]
    assert described["card"]["fields"]["utilization"]["plausible"] == {"min": "0", "max": "2"}
    assert described["customer"]["fields"]["income"]["plausible"] == {"min": "100"}
