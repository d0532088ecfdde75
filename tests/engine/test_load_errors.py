"""A broken ruleset is refused whole, with one clear error naming file, rule and field."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from app.engine import RulesetInvalid, load_library

from .helpers import contract, rule, ruleset

ROOT = Path(__file__).resolve().parents[2]


def _break(tmp_path: Path, old: str, new: str) -> Path:
    rulesets = tmp_path / "rulesets"
    rulesets.mkdir()
    text = (ROOT / "rulesets" / "retail_card.yaml").read_text()
    assert old in text, f"the shipped ruleset no longer contains {old!r}"
    (rulesets / "retail_card.yaml").write_text(text.replace(old, new, 1))
    return rulesets


@pytest.mark.parametrize("old,new,rule_id,path,words", [
    ("when: credit_report.other_banks.overdue_accounts_6m >= 2",
     "when: credit_report.other_banks.overdue_acounts_6m >= 2", "EXT-001",
     "credit_report.other_banks.overdue_acounts_6m",
     ["unknown field", "did you mean credit_report.other_banks.overdue_accounts_6m?"]),
    ("when: credit_report.other_banks.overdue_accounts_6m >= 2",
     'when: credit_report.other_banks.overdue_accounts_6m >= "two"', "EXT-001",
     "credit_report.other_banks.overdue_accounts_6m", ["wrong type comparison", "text \"two\""]),
    ("when: signal(over_limit)", "when: signal(over_limt)", None, "when",
     ["signal 'over_limt' is read but no rule derives it", "did you mean 'over_limit'?"]),
    ("when: card.utilization > 0.80\n", "when: card.utilization > 0.80 and\n", "UTL-001", "when",
     ["syntax error", "ends too early"]),
    ("when: card.utilization > 0.80\n", "when: card.utilization => 0.80\n", "UTL-001", "when",
     ["syntax error at column 18", "use == to compare"]),
])
def test_breaking_the_shipped_ruleset_gives_one_clear_error(tmp_path, old, new, rule_id, path, words):
    rulesets = _break(tmp_path, old, new)
    with pytest.raises(RulesetInvalid) as exc:
        load_library(rulesets, ROOT / "schemas")
    problems = exc.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert problem.file.endswith("retail_card.yaml")
    if rule_id:
        assert problem.rule == rule_id
    else:
        assert problem.rule  # the reader of the signal is named
    assert problem.path == path
    for word in words:
        assert word in problem.message, problem.message
    assert str(problem).startswith(str(rulesets / "retail_card.yaml") + ": rule ")


def test_unknown_action_in_shipped_ruleset(tmp_path):
    text = (ROOT / "rulesets" / "retail_card.yaml").read_text()
    doc = yaml.safe_load(text)
    target = next(r for r in doc["rules"] if any(a == "freeze_card" for a in r.get("actions", [])))
    target["actions"] = ["freeze_crad" if a == "freeze_card" else a for a in target["actions"]]
    (tmp_path / "rulesets").mkdir()
    (tmp_path / "rulesets" / "retail_card.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(RulesetInvalid) as exc:
        load_library(tmp_path / "rulesets", ROOT / "schemas")
    [problem] = exc.value.problems
    assert problem.rule == target["id"]
    assert "unknown action 'freeze_crad'" in problem.message and "did you mean 'freeze_card'?" in problem.message


def test_a_loop_in_the_shipped_ruleset(tmp_path):
    doc = yaml.safe_load((ROOT / "rulesets" / "retail_card.yaml").read_text())
    # make the red-risk rule that reads external delinquency also derive it back through red_risk
    ext = next(r for r in doc["rules"] if r["id"] == "EXT-001")
    ext["when"] = "credit_report.other_banks.overdue_accounts_6m >= 2 or signal(red_risk)"
    (tmp_path / "rulesets").mkdir()
    (tmp_path / "rulesets" / "retail_card.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(RulesetInvalid) as exc:
        load_library(tmp_path / "rulesets", ROOT / "schemas")
    [problem] = exc.value.problems
    assert problem.message.startswith("rule loop: ")
    assert "EXT-001" in problem.message and "red_risk" in problem.message


def test_the_other_rulesets_still_load_but_the_library_refuses_the_broken_one(tmp_path):
    rulesets = _break(tmp_path, "when: card.utilization > 0.80\n", "when: card.utilisation > 0.80\n")
    shutil.copy(ROOT / "rulesets" / "sme_loan.yaml", rulesets)
    with pytest.raises(RulesetInvalid) as exc:
        load_library(rulesets, ROOT / "schemas")
    assert {p.file.rsplit("/", 1)[-1] for p in exc.value.problems} == {"retail_card.yaml"}


@pytest.mark.parametrize("when,message", [
    ('customer.segment == "retail"', "'retail' is not one of the values of customer.segment"),
    ("card.utilization", "the condition is a number, not true/false"),
    ("overdue_6m + 1", "not true/false"),
    ("customer.employed > 1", "wrong type comparison"),
    ('as_of > "2026-01-01"', "wrong type comparison"),
    ("any(l in card: l.dpd > 1)", "card is a group of fields, not a list"),
    ("any(l in loans: l.dpt > 1)", "did you mean l.dpd?"),
    ("any(l in loans: signal(x))", "cannot be used inside"),
    ("loans > 1", "wrong type comparison"),
    ("1 > 2", "compares two constants"),
    ('matches(customer.employer, "(")', "invalid regular expression"),
    ("card.utilization > 0.1234567890123456789", "more than 15 significant digits"),
    ('date("2026-13-01") < as_of', "not a valid YYYY-MM-DD date"),
    ("customer.segment in [1, 2]", "wrong type comparison"),
])
def test_type_errors(when, message):
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("R", when), rule("X", "signal(x)", signals=["y"]), rule("Y", "overdue_6m > 0", signals=["x"])])
    texts = [str(p) for p in exc.value.problems]
    assert any(message in t for t in texts), texts
    assert all("rule R" in t for t in texts), texts


@pytest.mark.parametrize("change,message", [
    ({"actions": [{"reduce_limit": {"percent": 300}}]}, "parameter percent must be at most 100"),
    ({"actions": [{"reduce_limit": {}}]}, "needs parameter 'percent'"),
    ({"actions": [{"reduce_limit": {"pct": 30, "percent": 30}}]}, "has no parameter 'pct'"),
    ({"level": "purple"}, "unknown level 'purple'"),
    ({"review": "hourly"}, "unknown review frequency"),
    ({"priority": "high"}, "priority must be an integer"),
    ({"whenn": "x"}, "unknown key 'whenn'"),
])
def test_rule_structure_errors(change, message):
    body = rule("R", "overdue_6m > 0")
    body.update(change)
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([body])
    assert any(message in str(p) and p.rule == "R" for p in exc.value.problems), [str(p) for p in exc.value.problems]


def test_duplicate_rule_ids_and_rules_that_do_nothing():
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("R", "overdue_6m > 0"), rule("R", "overdue_6m > 1"),
                 {"id": "Q", "title": "q", "when": "overdue_6m > 2"}])
    messages = {(p.rule, p.message) for p in exc.value.problems}
    assert ("R", "rule id is used twice") in messages
    assert any(rid == "Q" and "does nothing" in m for rid, m in messages)


def test_negative_loop_is_refused():
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", "not signal(b)", signals=["a"]), rule("B", "not signal(a)", signals=["b"])])
    assert "rule loop" in str(exc.value)


def test_contradiction_is_refused():
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("A", "signal(b) and not signal(b)"), rule("B", "overdue_6m > 0", signals=["b"])])
    assert "can never be true" in str(exc.value)


def test_too_many_properties_for_durable_rules_are_refused_at_load():
    fields = {f"v{i}": {"type": "integer"} for i in range(260)}
    fields["customer"] = {"type": "object", "fields": {"id": {"type": "string"}}}
    c = contract(fields)
    rules = [rule(f"BIG{k}", " and ".join(f"v{i} > 1" for i in range(10 * k, 10 * k + 10))) for k in range(26)]
    with pytest.raises(RulesetInvalid) as exc:
        ruleset(rules, c)
    assert "more than 250 values" in str(exc.value)


def test_contract_errors_are_reported_with_paths():
    from app.engine import FactContract
    doc = {"id": "Bad-Id", "version": 0, "fields": {
        "a": {"type": "integr"}, "b": {"type": "enum"}, "c": {"type": "decimal", "places": 9},
        "d": {"type": "object", "fields": {"count": {"type": "integer"}}},
        "e": {"type": "integer", "min": 5, "max": 1}}}
    with pytest.raises(RulesetInvalid) as exc:
        FactContract(doc, "schemas/bad.yaml")
    got = {(p.path, p.message.split(";")[0]) for p in exc.value.problems}
    paths = {p for p, _ in got}
    assert {"id", "version", "a", "b", "c", "d.count", "e"} <= paths, got


def test_reason_placeholders_must_be_contract_fields():
    with pytest.raises(RulesetInvalid) as exc:
        ruleset([rule("R", "overdue_6m > 0", reason="overdue {overdue_6mm} times")])
    [problem] = exc.value.problems
    assert problem.rule == "R" and "unknown field {overdue_6mm}" in problem.message
    assert "did you mean 'overdue_6m'?" in problem.message
