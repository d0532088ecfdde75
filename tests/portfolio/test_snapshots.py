"""Decoding records: the contract's fast path agrees with marshmallow, CSV columns map
onto the contract as documented."""
from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.engine import SnapshotInvalid
from app.portfolio import synthetic
from app.portfolio.snapshots import CsvLayout, Decoder, InputError, RowError

from .helpers import library

SNAPSHOTS = {"personal_loan": list(synthetic.snapshots(40, seed=3))}

ODD_VALUES = [None, True, False, 0, 1, -1, 7, 2**53, 2**60, 3.5, 1e300, float("nan"), 0.1, "", " 12 ", "12",
              "1.5", "1.500", "1.505", "-0", "1e3", "abc", "2026-02-30", "2026-02-28", "mass", "open",
              Decimal("1.10"), Decimal("3"), Decimal("NaN"), Decimal("1E+2"), Decimal("0.123456789"), [], {},
              [{}], {"x": 1}, ["a"], "x" * 70]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, prefix + (i,))


def _typed(value):
    """A value with the type of every part, so that 1 and Decimal(1) and True differ."""
    if isinstance(value, dict):
        return ("dict", sorted((k, _typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, str(value))


def _outcome(check, snapshot):
    from marshmallow import ValidationError
    try:
        return ("ok", _typed(check(snapshot)))
    except SnapshotInvalid as exc:
        return ("invalid", exc.details)
    except ValidationError:
        return ("invalid", None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_check_gives_what_the_contract_gives(data):
    ruleset = library().ruleset("personal_loan")
    contract = ruleset.contract
    snapshot = copy.deepcopy(data.draw(st.sampled_from(SNAPSHOTS["personal_loan"])))
    for _ in range(data.draw(st.integers(0, 3))):
        paths = [p for p in _paths(snapshot) if p]
        path = data.draw(st.sampled_from(paths))
        parent = snapshot
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["set", "delete", "add"]))
        if action == "set":
            parent[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            key = data.draw(st.sampled_from(["extra", "id", "dpd", "status"]))
            parent[key] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))
    slow = _outcome(contract.full_validate, snapshot)
    got = contract.fast_validate(snapshot)
    fast = None if got is None else ("ok", _typed(got))
    if fast is not None:
        assert fast == slow
    public = _outcome(contract.validate, snapshot)
    assert public[0] == slow[0] and (slow[0] == "invalid" or public == slow)


@pytest.mark.parametrize("ruleset_id", ["personal_loan", "retail_card", "sme_loan"])
def test_fast_check_takes_the_fast_path_for_valid_snapshots(ruleset_id):
    contract = library().ruleset(ruleset_id).contract
    base = _scenario_base(ruleset_id)
    expected = contract.full_validate(base)
    got = contract.fast_validate(base)
    assert got is not None, "the fast path deferred a valid snapshot"
    assert json.dumps(_typed(got)) == json.dumps(_typed(expected))


def _scenario_base(ruleset_id):
    import yaml
    from app.config import ROOT
    doc = yaml.safe_load((ROOT / "rulesets" / f"{ruleset_id}.scenarios.yaml").read_text())
    return json.loads(json.dumps(next(iter(doc["bases"].values())), default=str))


# -- CSV ------------------------------------------------------------------------------------

def _layout(*columns):
    return CsvLayout(list(columns), library().ruleset("personal_loan").contract)


def test_csv_header_names_unknown_fields_with_a_suggestion():
    with pytest.raises(InputError) as exc:
        _layout("customer.id", "customer.segmnt", "loans.x.dpd", "customer.id", "customer.id.more")
    text = str(exc.value)
    assert "column 2 'customer.segmnt': the contract has no such field (did you mean customer.segment?)" in text
    assert "column 3 'loans.x.dpd': loans is a list: the next part must be an item number" in text
    assert "column 4 'customer.id' repeats column 1" in text
    assert "column 5 'customer.id.more': customer.id is a string, it has no parts" in text


def test_csv_column_for_a_whole_list_cannot_overlap_its_items():
    with pytest.raises(InputError, match="overlaps|already given whole"):
        _layout("loans", "loans.0.dpd")


def test_csv_cells_are_typed_by_the_contract_and_empty_cells_are_absent():
    layout = _layout("customer.id", "customer.months_on_book", "customer.monthly_income", "loans.0.dpd",
                     "loans.0.restructured", "loans.1.dpd", "outside_records.tax_arrears",
                     "outside_records.court_judgments", "account_flows.salary_stopped")
    snap = layout.decode(["C-1", " 12 ", "3000.50", "4", "TRUE", "", "", "", ""])
    assert snap == {"customer": {"id": "C-1", "months_on_book": 12, "monthly_income": "3000.50"},
                    "loans": [{"dpd": 4, "restructured": True}]}
    # an object is present when any cell under it is filled; a JSON cell holds a whole list
    snap = layout.decode(["C-1", "", "", "", "", "", "", "[]", "false"])
    assert snap["outside_records"] == {"court_judgments": []}
    assert snap["account_flows"] == {"salary_stopped": False}
    assert snap["loans"] == []


def test_csv_cells_that_do_not_type_are_reported_by_the_contract_with_their_path():
    contract = library().ruleset("personal_loan").contract
    layout = CsvLayout(["customer.id", "customer.segment", "customer.months_on_book", "loans.0.dpd",
                        "credit_report.as_of"], contract)
    decoder = Decoder(contract, layout)
    with pytest.raises(RowError) as exc:
        decoder.decode(["C-1", "mass", "twelve", "x", "31/03/2026"])
    paths = {d["path"]: d["message"] for d in exc.value.details}
    assert exc.value.reason == "validation_error"
    assert paths["customer.months_on_book"] == '"twelve" is not an integer'
    assert paths["loans.0.dpd"] == '"x" is not an integer'
    assert paths["credit_report.as_of"] == '"31/03/2026" is not a date (YYYY-MM-DD)'
    assert exc.value.customer_id == "C-1"
    with pytest.raises(RowError, match="Expected 5 cells, found 2"):
        decoder.decode(["C-1", "mass"])
