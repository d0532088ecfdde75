"""Nothing a snapshot, a contract or a ruleset holds can take the engine down: numbers are
bounded before any arithmetic, patterns run in linear time, YAML aliases are refused,
deep or huge conditions are refused at load, and a ruleset that would exceed the fixed
limits of durable_rules is refused with a message that names the limit."""
from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from app.engine import FactContract, RulesetInvalid, SnapshotInvalid
from app.engine.library import parse_yaml

from .helpers import CONTRACT, contract, rule, ruleset, ruleset_doc, run_child, snap


def problems(exc_info) -> list[str]:
    return [str(p) for p in exc_info.value.problems]


# -- numbers ------------------------------------------------------------------------------

def test_a_huge_exponent_in_an_integer_field_is_refused_at_once():
    out = run_child(
        "from decimal import Decimal\n"
        "from app.engine import SnapshotInvalid\n"
        "from tests.engine.helpers import contract, snap\n"
        "for value in (Decimal('1e1000000'), Decimal('-9e999999')):\n"
        "    try:\n"
        "        contract().validate(snap(card={'dpd': value}))\n"
        "    except SnapshotInvalid as exc:\n"
        "        print(exc.details[0]['path'], exc.details[0]['message'])\n", seconds=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("card.dpd ") and "out of range" in line for line in lines)


@pytest.mark.parametrize("value", [Decimal("12345678901234567890123456789.5"), "12345678901234567890123456789.5",
                                   Decimal("1.00000000000000000000000000001"), Decimal("1e-40")])
def test_a_decimal_beyond_28_digits_is_a_validation_error_naming_the_field(value):
    with pytest.raises(SnapshotInvalid) as exc:
        contract().validate(snap(card={"balance": value}))
    [detail] = exc.value.details
    assert detail["path"] == "card.balance"


def test_contract_bounds_are_bounded_numbers():
    out = run_child(
        "import copy\n"
        "from app.engine import FactContract, RulesetInvalid\n"
        "from tests.engine.helpers import CONTRACT\n"
        "for bad in ('1e300000', 1e999, '9' * 5000):\n"
        "    doc = copy.deepcopy(CONTRACT)\n"
        "    doc['fields']['overdue_6m']['max'] = bad\n"
        "    try:\n"
        "        FactContract(doc, 'c.yaml')\n"
        "    except RulesetInvalid as exc:\n"
        "        print(exc.problems[0].path, '|', exc.problems[0].message)\n", seconds=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("overdue_6m | max ") for line in lines), out.stdout


@pytest.mark.parametrize("key,value", [("max_length", 1e999), ("max_length", "abc"), ("max_length", -1),
                                       ("max_items", 1e999), ("max_items", "many"), ("required", "yes"),
                                       ("personal", 1), ("description", ["x"]), ("places", 1e999)])
def test_a_contract_attribute_of_the_wrong_type_is_a_problem_naming_it(key, value):
    doc = copy.deepcopy(CONTRACT)
    target = doc["fields"]["customer"]["fields"]["employer"] if key == "max_length" else \
        doc["fields"]["tags"] if key == "max_items" else \
        doc["fields"]["card"]["fields"]["balance"] if key == "places" else doc["fields"]["overdue_6m"]
    target[key] = value
    with pytest.raises(RulesetInvalid) as exc:
        FactContract(doc, "c.yaml")
    assert any(key in p.message for p in exc.value.problems), problems(exc)


@pytest.mark.parametrize("params", ["percent", ["percent"], 7])
def test_action_params_that_are_not_a_mapping_are_a_problem(params):
    actions = {"cut": {"title": "Cut", "params": params}}
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", "overdue_6m > 1", actions=["cut"])], actions=actions)
    assert any(p.path == "actions.cut.params" for p in exc.value.problems), problems(exc)


@pytest.mark.parametrize("spec", [{"type": "integer", "min": "abc"}, {"type": "integer", "max": "1e300000"},
                                  {"type": "decimal", "min": [1]}, {"type": "enum", "values": "ab"},
                                  {"type": "integer", "required": "no"}])
def test_an_action_parameter_of_the_wrong_type_is_a_problem(spec):
    actions = {"cut": {"title": "Cut", "params": {"percent": spec}}}
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", "overdue_6m > 1", actions=["cut"])], actions=actions)
    assert any((p.path or "").startswith("actions.cut.params.percent") for p in exc.value.problems), problems(exc)


@pytest.mark.parametrize("value", ["1e300000", 1e999, Decimal("1e1000000")])
def test_an_action_parameter_value_out_of_bounds_is_a_problem(value):
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", "overdue_6m > 1", actions=[{"reduce_limit": {"percent": value}}])])
    assert any(p.rule == "A" for p in exc.value.problems), problems(exc)


@pytest.mark.parametrize("when", ["card.dpd > 1e1000000", "card.dpd * 1e999999 > 5",
                                  "card.balance > 12345678901234567890123456789.5"])
def test_condition_literals_are_bounded(when):
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", when)])
    assert any(p.rule == "A" and p.path == "when" for p in exc.value.problems), problems(exc)


@pytest.mark.parametrize("field,value", [("priority", 10 ** 5000), ("version", 10 ** 5000), ("version", 1e999)],
                         ids=["priority-huge", "version-huge", "version-inf"])
def test_numbers_of_a_ruleset_are_bounded(field, value):
    if field == "priority":
        doc = ruleset_doc([rule("A", "overdue_6m > 1", priority=value)])
    else:
        doc = ruleset_doc([rule("A", "overdue_6m > 1")], version=value)
    from app.engine import Ruleset
    with pytest.raises(RulesetInvalid) as exc:
        Ruleset(doc, contract(), "t.yaml")
    assert any(p.path == field for p in exc.value.problems), problems(exc)


# -- regular expressions ------------------------------------------------------------------

def when(pattern: str) -> str:
    return f"matches(customer.id, {json.dumps(pattern)})"


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"^(\w+\s?)*$", r"(a|aa)+b", r"(.*a){20}"])
def test_catastrophic_patterns_run_in_linear_time(pattern):
    out = run_child(
        "from tests.engine.helpers import ruleset, rule, snap\n"
        f"rs = ruleset([rule('A', {when(pattern)!r}, level='red')])\n"
        "for text in ('a' * 50000 + '!', 'ab ' * 20000 + '!'):\n"
        "    print(rs.evaluate(snap(customer={'id': text})).level)\n", seconds=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["green", "green"]


@pytest.mark.parametrize("pattern,why", [(r"(a)\1", "backreference"), (r"(?=a)a", "lookaround"),
                                         (r"x" * 2000, "long")])
def test_patterns_outside_linear_time_syntax_are_refused_at_load(pattern, why):
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", when(pattern))])
    [problem] = exc.value.problems
    assert problem.rule == "A" and "pattern" in problem.message


def test_patterns_still_match_as_written():
    rs = ruleset([rule("A", when("C-[0-9]{3}"), level="red")])
    assert rs.evaluate(snap(customer={"id": "C-123"})).level == "red"
    assert rs.evaluate(snap(customer={"id": "C-1234"})).level == "green"   # a full match
    assert rs.evaluate(snap(customer={"id": "C-123\n"})).level == "green"


# -- YAML ---------------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def test_a_yaml_alias_bomb_is_refused_saying_what_was_refused():
    assert len(BOMB) < 400
    out = run_child(
        "from app.engine import RulesetInvalid\n"
        "from app.engine.library import parse_yaml\n"
        "from tests.engine.test_limits import BOMB\n"
        "try:\n"
        "    parse_yaml(BOMB, 'bomb.yaml')\n"
        "except RulesetInvalid as exc:\n"
        "    print(exc.problems[0])\n", seconds=20, memory_mb=512)
    assert out.returncode == 0, out.stderr
    assert "alias" in out.stdout and "bomb.yaml" in out.stdout


def test_yaml_without_aliases_still_reads():
    assert parse_yaml("a: [1, 2]\nb: {c: d}\n", "ok.yaml") == {"a": [1, 2], "b": {"c": "d"}}


@pytest.mark.parametrize("text", ["a: " + "[" * 5000 + "]" * 5000, "a: " + "9" * 5000])
def test_yaml_too_deep_or_with_numbers_too_long_is_refused(text):
    with pytest.raises(RulesetInvalid) as exc:
        parse_yaml(text, "x.yaml")
    assert "x.yaml" in str(exc.value.problems[0])


# -- conditions ---------------------------------------------------------------------------

@pytest.mark.parametrize("when", ["not " * 1000 + "overdue_6m > 1", "card.dpd > " + "- " * 1000 + "1",
                                  " or ".join(f"card.dpd == {i}" for i in range(1000)),
                                  "not (" * 200 + "overdue_6m > 1" + ")" * 200])
def test_conditions_too_deep_or_too_large_are_refused_at_load(when):
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", when)])
    [problem] = exc.value.problems
    assert problem.rule == "A" and problem.path == "when"
    assert "too" in problem.message, problem.message


def test_a_chain_of_2000_overriding_actions_loads_and_combines():
    n = 2000
    actions = {f"a{i}": {"title": f"A{i}", "overridden_by": [f"a{i + 1}"] if i < n - 1 else []} for i in range(n)}
    rs = ruleset([rule("A", "overdue_6m > 1", actions=[f"a{i}" for i in range(n)])], actions=actions)
    kept = rs.evaluate(snap(overdue_6m=2)).action_names
    # the last is final and drops the one before, which then drops nothing, and so on
    assert len(kept) == n // 2 and "a1999" in kept and "a1998" not in kept and "a1997" in kept


def test_a_circle_of_2000_overriding_actions_is_refused():
    n = 2000
    actions = {f"a{i}": {"title": f"A{i}", "overridden_by": [f"a{(i + 1) % n}"]} for i in range(n)}
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", "overdue_6m > 1", actions=["a0"])], actions=actions)
    assert any("circle" in p.message for p in exc.value.problems)


def test_a_chain_of_2000_rules_through_signals_is_refused_or_runs():
    rules = [rule("R0", "overdue_6m > 1", signals=["s0"])]
    rules += [rule(f"R{i}", f"signal(s{i - 1})", signals=[f"s{i}"]) for i in range(1, 2000)]
    with pytest.raises(RulesetInvalid) as exc:
        ruleset(rules)
    assert any("durable_rules" in p.message for p in exc.value.problems)


# -- ids ----------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [("id", "t\n"), ("rule", "R-1\n"), ("signal", "s\n"), ("action", "cut\n")])
def test_ids_with_a_trailing_newline_are_refused(field, value):
    if field == "id":
        doc = ruleset_doc([rule("A", "overdue_6m > 1")], id=value)
    elif field == "rule":
        doc = ruleset_doc([rule("R-1", "overdue_6m > 1"), rule(value, "overdue_6m > 2")])
    elif field == "signal":
        doc = ruleset_doc([rule("A", "overdue_6m > 1", signals=[value])])
    else:
        doc = ruleset_doc([rule("A", "overdue_6m > 1")])
        doc["actions"][value] = {"title": "Cut"}
    from app.engine import Ruleset
    with pytest.raises(RulesetInvalid):
        Ruleset(doc, contract(), "t.yaml")


def test_contract_names_with_a_trailing_newline_are_refused():
    doc = copy.deepcopy(CONTRACT)
    doc["fields"]["overdue_6m\n"] = doc["fields"].pop("overdue_6m")
    with pytest.raises(RulesetInvalid):
        FactContract(doc, "c.yaml")
    doc = copy.deepcopy(CONTRACT)
    doc["id"] = "t\n"
    with pytest.raises(RulesetInvalid):
        FactContract(doc, "c.yaml")


# -- the fixed limits of durable_rules ----------------------------------------------------

def test_more_snapshot_conditions_than_durable_rules_can_match_at_once_are_refused():
    # 65 distinct conditions one snapshot can meet together: durable_rules fails with
    # error 303 (its alpha stack holds 64); refused at load, naming the limit
    rules = [rule(f"R{i:03d}", f"card.dpd >= {i}", level="yellow") for i in range(65)]
    with pytest.raises(RulesetInvalid) as exc:
        ruleset(rules)
    [problem] = exc.value.problems
    assert "64" in problem.message and "65" in problem.message and "durable_rules" in problem.message
    within = ruleset(rules[:64])
    assert len(within.evaluate(snap(card={"dpd": 3000})).fired) == 64


def test_more_rules_on_one_signal_than_durable_rules_can_join_are_refused():
    rules = [rule("S", "overdue_6m >= 0", signals=["s"])]
    rules += [rule(f"R{i:03d}", "signal(s)", level="yellow") for i in range(257)]
    with pytest.raises(RulesetInvalid) as exc:
        ruleset(rules)
    assert any("256" in p.message and "durable_rules" in p.message for p in exc.value.problems), problems(exc)
    within = ruleset(rules[:257])
    assert len(within.evaluate(snap(overdue_6m=1)).fired) == 257


def test_a_ruleset_of_600_rules_is_refused_before_durable_rules_sees_it():
    out = run_child(
        "from app.engine import RulesetInvalid\n"
        "from tests.engine.helpers import ruleset, rule, snap\n"
        "rules = [rule(f'R{i:03d}', f'card.dpd >= {i + 1}', level='yellow') for i in range(600)]\n"
        "try:\n"
        "    ruleset(rules).evaluate(snap(card={'dpd': 0}))\n"
        "except RulesetInvalid as exc:\n"
        "    print(exc.problems[0].message)\n", seconds=30)
    assert out.returncode == 0, out.stderr
    assert "durable_rules" in out.stdout


# -- any value of the wrong type ----------------------------------------------------------

JUNK = [None, True, -1, 1e999, "x\n", [], [{}], {1: 2}, 10 ** 30]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:2]):
            yield from _paths(v, prefix + (i,))


_VALUE = object()


def _replaced(doc, path, value=None, key=_VALUE):
    doc = copy.deepcopy(doc)
    node = doc
    for part in path[:-1] if key is _VALUE else path:
        node = node[part]
    if key is _VALUE:
        node[path[-1]] = copy.deepcopy(value)
    elif isinstance(node, dict) and node:
        node[key] = node.pop(next(iter(node)))
    return doc


def test_any_value_or_key_of_the_wrong_type_is_a_problem_never_a_crash():
    from app.engine import Ruleset
    rs = ruleset([rule("A", "overdue_6m > 1 and not signal(s)", actions=[{"reduce_limit": {"percent": 10}}]),
                  rule("B", "card.dpd > 30", signals=["s"], level="red")])
    for build, base in ((lambda d: Ruleset(d, rs.contract, "t.yaml"), rs.document),
                        (lambda d: FactContract(d, "c.yaml"), CONTRACT)):
        for path in _paths(base):
            docs = [_replaced(base, path, key=k) for k in (1, None, "x\n")]
            if path:
                docs += [_replaced(base, path, value=v) for v in JUNK]
            for doc in docs:
                try:
                    build(doc)
                except RulesetInvalid:
                    pass
