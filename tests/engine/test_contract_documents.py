"""Contract documents are checked strictly, whatever they hold: numbers are numbers and
bounded, every attribute has its type, the size and the number of fields are bounded,
and a problem names the contract, the field path and what is wrong. A malformed
document is refused quickly, never with another exception."""
from __future__ import annotations

import copy
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from app.engine import FactContract, RulesetInvalid
from app.engine.contract import MAX_DOCUMENT, MAX_FIELDS

from .helpers import run_child

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = yaml.safe_load((ROOT / "schemas" / "retail_card.v2.yaml").read_text())
SOURCE = "contract retail_card"


def refused(document) -> list:
    with pytest.raises(RulesetInvalid) as exc:
        FactContract(document, SOURCE)
    assert all(p.file == SOURCE for p in exc.value.problems)
    return exc.value.problems


def card_field(name: str, **changes) -> dict:
    document = copy.deepcopy(SHIPPED)
    document["fields"]["card"]["fields"][name].update(changes)
    return document


@pytest.mark.parametrize("key,value", [("min", "0"), ("max", "1e300000"), ("min", "abc"), ("max", True),
                                       ("min", None), ("max", [3650]), ("min", {"value": 0})])
def test_a_bound_must_be_a_number_not_text_or_anything_else(key, value):
    [problem] = refused(card_field("dpd", **{key: value}))
    assert problem.path == "card.dpd" and problem.message.startswith(f"{key} must be a number, not ")


@pytest.mark.parametrize("plausible,path", [({"min": "1"}, "card.utilization.plausible.min"),
                                            ({"max": "1e300000"}, "card.utilization.plausible.max"),
                                            ({"max": [2]}, "card.utilization.plausible.max"),
                                            ([0, 2], "card.utilization.plausible"),
                                            ({"min": 0, "max": 2, "mean": 1}, "card.utilization.plausible")])
def test_a_plausible_range_of_the_wrong_shape_names_where(plausible, path):
    [problem] = refused(card_field("utilization", plausible=plausible))
    assert problem.path == path


@pytest.mark.parametrize("changes,words", [
    ({"values": ["a"]}, "values applies to enums only"),
    ({"max_length": 10}, "max_length applies to strings only"),
    ({"fields": {"x": {"type": "integer"}}}, "fields applies to objects only"),
    ({"places": 2}, "places applies to decimals only"),
])
def test_an_attribute_of_another_type_is_refused(changes, words):
    problems = refused(card_field("dpd", **changes))
    assert any(p.path == "card.dpd" and words in p.message for p in problems), problems


@pytest.mark.parametrize("key,value", [("title", ["x"] * 3), ("description", {"a": 1}), ("title", "x" * 5000)])
def test_title_and_description_are_bounded_text(key, value):
    document = copy.deepcopy(SHIPPED)
    document[key] = value
    [problem] = refused(document)
    assert problem.path == key


def test_enum_values_are_bounded_and_each_listed_once():
    segment = copy.deepcopy(SHIPPED)["fields"]["customer"]["fields"]["segment"]
    for values in (["mass", "mass"], ["x" * 201], [f"v{n}" for n in range(1001)]):
        document = copy.deepcopy(SHIPPED)
        document["fields"]["customer"]["fields"]["segment"] = {**segment, "values": values}
        [problem] = refused(document)
        assert problem.path == "customer.segment"


def test_the_number_of_fields_and_the_size_are_bounded():
    many = copy.deepcopy(SHIPPED)
    many["fields"]["extra"] = {"type": "object",
                               "fields": {f"f{n}": {"type": "boolean"} for n in range(MAX_FIELDS)}}
    [problem] = refused(many)
    assert problem.path == "fields" and f"at most {MAX_FIELDS:,}" in problem.message
    big = copy.deepcopy(SHIPPED)
    big["fields"]["card"]["fields"]["dpd"]["description"] = "x" * MAX_DOCUMENT
    [problem] = refused(big)
    assert "larger than" in problem.message


def test_a_trailing_newline_is_not_part_of_an_id_or_a_field_name():
    document = copy.deepcopy(SHIPPED)
    document["id"] = "retail_card\n"
    assert [p.path for p in refused(document)] == ["id"]
    document = copy.deepcopy(SHIPPED)
    document["fields"]["card"]["fields"]["dpd\n"] = document["fields"]["card"]["fields"].pop("dpd")
    assert [p.path for p in refused(document)] == ["card.dpd\n"]


def test_the_contract_bomb_is_refused_fast():
    # The bomb: bounds written as huge exponents, as text, in every field that
    # can hold them. In a child process with a time bound: a slow check fails here.
    out = run_child(
        "import copy, time, yaml\n"
        "from app.engine import FactContract, RulesetInvalid\n"
        "doc = yaml.safe_load(open('schemas/retail_card.v2.yaml'))\n"
        "doc['fields']['bomb'] = {'type': 'object', 'fields': {\n"
        "    f'f{n}': {'type': 'decimal', 'min': '-1e300000', 'max': '1e300000', 'plausible': {'max': '9e999999'}}\n"
        "    for n in range(1500)}}\n"
        "started = time.perf_counter()\n"
        "try:\n"
        "    FactContract(doc, 'contract retail_card')\n"
        "except RulesetInvalid as exc:\n"
        "    print(len(exc.problems), exc.problems[0].path, '|', exc.problems[0].message)\n"
        "print(round(time.perf_counter() - started, 3))\n", seconds=20)
    assert out.returncode == 0, out.stderr
    first, took = out.stdout.splitlines()
    count, rest = first.split(" ", 1)
    assert int(count) == 1500 and rest.startswith("bomb.f") and "must be a number, not text" in rest
    assert float(took) < 2.0


# -- every malformed document ---------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10 ** 40, max_value=10 ** 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: abs(d.adjusted()) < 10 ** 6),
    st.sampled_from(["1e300000", "-9e999999", "abc", "", "12", "0.5", "integer", "retail_card\n", "\x00",
                     "x" * 300]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.sampled_from(["min", "max", "type", "x"]),
                                                         st.integers() | st.text(max_size=3), max_size=3))
ATTRIBUTES = ["type", "required", "min", "max", "places", "values", "max_length", "fields", "items", "max_items",
              "description", "personal", "plausible", "unknown"]


def field_paths(fields: dict, prefix=()) -> list[tuple[str, ...]]:
    out = []
    for name, body in fields.items():
        out.append(prefix + (name,))
        if isinstance(body, dict) and isinstance(body.get("fields"), dict):
            out.extend(field_paths(body["fields"], prefix + (name,)))
    return out


PATHS = field_paths(SHIPPED["fields"])


@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(ATTRIBUTES), JUNK), min_size=1, max_size=4),
       st.sampled_from(["top", "none"]), JUNK)
def test_any_malformed_contract_is_refused_with_problems_or_accepted_never_a_crash(changes, where, top):
    document = copy.deepcopy(SHIPPED)
    if where == "top":
        document["title"] = top
    for path, attribute, value in changes:
        node = document["fields"]
        for part in path[:-1]:
            node = node[part]["fields"]
        node[path[-1]][attribute] = value
    started = time.perf_counter()
    try:
        contract = FactContract(document, SOURCE)
    except RulesetInvalid as exc:
        assert exc.problems and all(p.file == SOURCE and p.message for p in exc.problems)
        # every problem names where, unless it is about the whole document
        assert all(p.path for p in exc.problems), [str(p) for p in exc.problems]
    else:
        # accepted: then every number it holds is a bounded Decimal, every text is text
        for _path, spec in contract.paths():
            for bound in (spec.min, spec.max):
                assert bound is None or isinstance(bound, (int, Decimal))
            assert isinstance(spec.description, str)
        assert isinstance(contract.title, str)
    assert time.perf_counter() - started < 1.0
