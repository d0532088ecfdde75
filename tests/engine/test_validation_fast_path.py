"""The compiled fast path accepts exactly what marshmallow accepts, with the same result."""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from app.engine import SnapshotInvalid, load_library

from .test_property import _jsonable, object_strategy, thresholds

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = load_library(ROOT / "rulesets", ROOT / "schemas")

junk = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.text(max_size=5),
                 st.sampled_from(["45", "1.005", "2026-02-30", "NaN", " 12.5 ", "1e3", "", "mass"]),
                 st.decimals(allow_nan=True, allow_infinity=True, places=3), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.floats(allow_nan=True),
                 st.sampled_from([float("nan"), float("inf"), -float("inf")]))


def _mutate(value, data):
    """Replace a random leaf (or add a stray key) somewhere in a valid snapshot."""
    if isinstance(value, dict) and value:
        key = data.draw(st.sampled_from(sorted(value) + ["__stray__"]))
        out = dict(value)
        if key == "__stray__":
            out["stray"] = 1
        elif data.draw(st.booleans()):
            out[key] = _mutate(value[key], data)
        else:
            out[key] = data.draw(junk)
        return out
    if isinstance(value, list) and value:
        i = data.draw(st.integers(0, len(value) - 1))
        out = list(value)
        out[i] = _mutate(value[i], data)
        return out
    return data.draw(junk)


def _outcome(fn, snapshot):
    from marshmallow import ValidationError
    try:
        return ("ok", fn(snapshot))
    except SnapshotInvalid as exc:
        return ("invalid", exc.errors)
    except ValidationError as exc:
        return ("invalid", exc.messages)


def test_fast_path_agrees_with_marshmallow():
    for rs in LIBRARY.rulesets():
        contract = rs.contract

        @settings(max_examples=150, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(object_strategy(contract.fields, thresholds(rs)), st.data())
        def check(raw, data):
            valid = _jsonable(raw)
            for snapshot in (valid, _mutate(valid, data)):
                got = contract.fast_validate(snapshot)
                fast = None if got is None else ("ok", got)
                slow = _outcome(contract.full_validate, snapshot)
                if fast is not None:
                    assert slow == fast, (snapshot, fast, slow)
                # the public entry point always answers like marshmallow
                public = _outcome(contract.validate, snapshot)
                if slow[0] == "ok":
                    assert public == slow
                else:
                    assert public[0] == "invalid"

        check()


def test_fast_path_takes_the_common_case():
    contract = LIBRARY.ruleset("retail_card").contract
    snapshot = json.loads((ROOT / "tests" / "data" / "retail_card_red.json").read_text())
    assert contract.fast_validate(snapshot) == contract.full_validate(snapshot)
    assert contract.validate(snapshot)["card"]["utilization"] == Decimal(snapshot["card"]["utilization"])


def test_decimal_strings_the_fast_path_takes_and_leaves():
    # plain numeric strings within the places and the bounds are taken; anything else is
    # left to marshmallow, which must agree with what the fast path took
    contract = LIBRARY.ruleset("retail_card").contract
    base = json.loads((ROOT / "tests" / "data" / "retail_card_red.json").read_text())
    taken = ["0.5", "0.50", "0.8500", "1", "00.75", "5.0001"]
    left = ["0.5000001", "-0.25", "1000000.0001", "1000001", " 0.5", "0.5\n", "0.5 ", "1e-1", "NaN", "Infinity",
            "-", "1.", ".5", "+0.5", "0x1", "", "\u0663", "0" * 40 + "1"]
    for text in taken + left:
        snapshot = copy.deepcopy(base)
        snapshot["card"]["utilization"] = text
        fast = contract.fast_validate(snapshot)
        assert (fast is not None) == (text in taken), text
        slow = _outcome(contract.full_validate, snapshot)
        if fast is not None:
            assert slow == ("ok", fast)
            assert fast["card"]["utilization"] == Decimal(text)
        assert _outcome(contract.validate, snapshot)[0] == slow[0], text
