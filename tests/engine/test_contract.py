"""Snapshot validation: strict types, exact decimals, every error with its path."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.engine import SnapshotInvalid

from .helpers import contract


def errors(snapshot) -> dict:
    with pytest.raises(SnapshotInvalid) as exc:
        contract().validate(snapshot)
    return {e["path"]: e["message"] for e in exc.value.errors}


def test_valid_snapshot_keeps_decimals_exact_and_parses_dates():
    data = contract().validate(json.loads(
        '{"customer": {"id": "c", "income": 1234.5}, "card": {"utilization": 0.1, "limit": "1000.10"},'
        ' "as_of": "2026-03-31", "loans": [{"dpd": 3, "outstanding": 0.30}]}', parse_float=Decimal))
    assert data["customer"]["income"] == Decimal("1234.5")
    assert data["card"]["utilization"] == Decimal("0.1")
    assert data["card"]["limit"] == Decimal("1000.10")
    assert data["loans"][0]["outstanding"] == Decimal("0.30")
    assert data["as_of"].isoformat() == "2026-03-31"


def test_every_bad_field_is_reported_with_its_path():
    got = errors({
        "customer": {"id": 7, "segment": "retail", "income": "lots", "employed": "yes"},
        "card": {"dpd": "45", "utilization": 9, "limit": -1},
        "overdue_6m": True,
        "as_of": "31/03/2026",
        "loans": [{"dpd": 1}, {"dpd": 2.5, "colour": "red"}],
        "surprise": 1,
    })
    assert got == {
        "customer.id": "7 is not text",
        "customer.segment": '"retail" is not one of: mass, affluent, private_banking',
        "customer.income": '"lots" is not a decimal number',
        "customer.employed": '"yes" is not true or false',
        "card.dpd": '"45" is not an integer',
        "card.utilization": "9 is above the maximum 5",
        "card.limit": "-1 is below the minimum 0",
        "overdue_6m": "true is not an integer",
        "as_of": '"31/03/2026" is not a date (YYYY-MM-DD)',
        "loans.1.dpd": "2.5 is not an integer",
        "loans.1.colour": "Unknown field: the contract has no such field.",
        "surprise": "Unknown field: the contract has no such field.",
    }


def test_missing_required_and_null():
    assert errors({}) == {"customer": "Missing data for required field."}
    assert errors({"customer": {"id": None}}) == {"customer.id": "Field may not be null."}
    assert errors({"customer": {"id": "x"}, "card": None}) == {"card": "Field may not be null."}


def test_wrong_shapes():
    assert errors({"customer": "c1"}) == {"customer": "Must be an object."}
    assert errors({"customer": {"id": "x"}, "loans": {"dpd": 1}}) == {"loans": "Not a valid list."}
    with pytest.raises(SnapshotInvalid) as exc:
        contract().validate([1, 2])
    assert exc.value.errors == [{"path": "$", "message": "The snapshot must be a JSON object."}]


@pytest.mark.parametrize("value,message", [
    (Decimal("1e400"), "out of range"),
    (Decimal("NaN"), "NaN is not a finite number"),
    ("Infinity", '"Infinity" is not a decimal number'),
    (Decimal("0.123"), "0.123 has more than 2 decimal places"),
    ("1,000.00", '"1,000.00" is not a decimal number'),
])
def test_decimal_limits(value, message):
    got = errors({"customer": {"id": "x", "income": value}})
    assert message in got["customer.income"]


def test_huge_integers_and_decimal_places_that_are_zeros():
    assert errors({"customer": {"id": "x"}, "overdue_6m": 10**400})["overdue_6m"] == \
        "1000000000000000000000000000000000000... is out of range"
    got = errors({"customer": {"id": "x"}, "card": {"dpd": 2**60}})
    assert got["card.dpd"] in (f"{2**60} is out of range", f"{2**60} is above the maximum 3650")
    data = contract().validate({"customer": {"id": "x", "income": Decimal("12.500")}})
    assert data["customer"]["income"] == Decimal("12.50")


def test_shipped_contracts_describe_themselves():
    from app.engine import load_library
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    lib = load_library(root / "rulesets", root / "schemas")
    for c in lib.contracts():
        d = c.describe()
        assert d["id"] == c.id and d["fields"]
        json.dumps(d)
        assert c.personal_paths(), f"{c.key} marks no personal data"
