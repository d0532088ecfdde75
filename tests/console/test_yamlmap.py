"""Problems placed at their lines in the editor's YAML text (no browser needed)."""

from __future__ import annotations

import pytest

from app.console import yamlmap
from app.engine import RulesetInvalid, library
from app.service import policies
from tests.console.steps import replace_after
from tests.policies import RETAIL


def problems_of(log_db, text: str) -> list[dict]:
    with pytest.raises(RulesetInvalid) as caught:
        policies.check_draft(log_db, "retail_card", 99, text)
    return yamlmap.locate(text, caught.value.details)


def line_of(text: str, line: int) -> str:
    return text.split("\n")[line - 1].strip()


def test_a_misspelt_field_is_placed_on_the_condition_that_reads_it(log_db):
    text = replace_after(RETAIL, "id: ACT-010", "card.utilization > 0.80", "card.utilisation > 0.80")
    [problem] = problems_of(log_db, text)
    assert problem["rule"] == "ACT-010" and "did you mean card.utilization" in problem["message"]
    assert line_of(text, problem["line"]) == "when: signal(external_delinquency) and card.utilisation > 0.80"


def test_a_bad_key_of_a_rule_is_placed_on_that_key(log_db):
    text = replace_after(RETAIL, "id: ACT-010", "level: orange", "level: ornage")
    [problem] = problems_of(log_db, text)
    assert line_of(text, problem["line"]) == "level: ornage"


def test_a_condition_over_several_lines_is_placed_on_the_line_naming_the_field(log_db):
    text = RETAIL.replace("    when: signal(external_delinquency) and card.utilization > 0.80",
                          "    when: >\n      signal(external_delinquency)\n      and card.utilisation > 0.80", 1)
    [problem] = problems_of(log_db, text)
    assert line_of(text, problem["line"]) == "and card.utilisation > 0.80"


def test_a_yaml_syntax_error_keeps_the_parsers_line(log_db):
    text = RETAIL.replace("levels:\n", "levels: [\n", 1)
    [problem] = problems_of(log_db, text)
    assert problem["line"] is not None and "not valid YAML" in problem["message"]


def test_a_document_level_path_is_placed_on_its_key():
    text = "id: x\nlevels:\n  green: {review: annual}\n  orange: {review: weekly}\n"
    [placed] = yamlmap.locate(text, [{"path": "levels.orange", "message": "unknown review frequency"}])
    assert placed["line"] == 4


def test_the_fast_yaml_parser_reads_every_shipped_file_as_the_safe_one_does():
    import yaml

    from tests.conftest import ROOT

    for path in sorted((ROOT / "rulesets").glob("*.yaml")) + sorted((ROOT / "schemas").glob("*.yaml")):
        text = path.read_text()
        assert yaml.load(text, Loader=library.YAML_LOADER) == yaml.safe_load(text), path
