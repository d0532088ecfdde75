"""Every shipped contract and ruleset loads, passes its scenarios, and every rule is exercised."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.engine import load_library, read_yaml
from app.engine.library import ruleset_files
from app.engine.scenarios import run_file, scenario_files

ROOT = Path(__file__).resolve().parents[2]
RULESET_FILES = ruleset_files(ROOT / "rulesets")


def test_there_are_shipped_rulesets_for_each_product():
    ids = {read_yaml(p)["id"] for p in RULESET_FILES}
    assert {"retail_card", "personal_loan", "sme_loan"} <= ids
    assert len(read_yaml(ROOT / "rulesets" / "retail_card.yaml")["rules"]) >= 25


@pytest.mark.parametrize("path", RULESET_FILES, ids=lambda p: p.name)
def test_ruleset_scenarios_pass_and_cover_every_rule(path):
    library = load_library(ROOT / "rulesets", ROOT / "schemas", only=[path])
    [scenarios] = scenario_files([path])
    report = run_file(library, scenarios)
    assert not report.problems
    failures = {r.name: r.diffs for r in report.results if not r.passed}
    assert not failures
    assert len(report.results) >= 8
    assert report.unfired_rules == []


@pytest.mark.parametrize("path", RULESET_FILES, ids=lambda p: p.name)
def test_every_rule_names_its_policy_clause(path):
    for rule in read_yaml(path)["rules"]:
        assert rule.get("clause"), rule["id"]
        assert rule.get("title"), rule["id"]


def test_cli_without_flask_reports_failures_with_nonzero_exit(tmp_path):
    import subprocess
    import sys
    bad = tmp_path / "retail_card.yaml"
    bad.write_text((ROOT / "rulesets" / "retail_card.yaml").read_text().replace(
        "card.utilization > 0.80\n", "card.utilisation > 0.80\n", 1))
    out = subprocess.run([sys.executable, "-m", "app.engine", "validate", str(bad), "--schemas",
                          str(ROOT / "schemas")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "ERROR" in out.stdout and "did you mean card.utilization?" in out.stdout
    ok = subprocess.run([sys.executable, "-m", "app.engine", "test", "rulesets"], capture_output=True, text=True,
                        cwd=ROOT)
    assert ok.returncode == 0, ok.stdout
    assert "PASS:" in ok.stdout.splitlines()[-1]


def test_documented_grammar_names_every_keyword_and_function_of_the_parser():
    import re
    grammar = (ROOT / "app" / "engine" / "condition.lark").read_text()
    keywords = set(re.findall(r'"([a-z_]+)"', grammar))
    doc = (ROOT / "docs" / "policy-language.md").read_text()
    documented = doc[doc.index("Grammar (EBNF"):doc.index("Types: `integer`")]
    missing = sorted(k for k in keywords if f'"{k}"' not in documented)
    assert not missing, f"grammar keywords missing from docs/policy-language.md: {missing}"
    assert len(keywords) >= 18


def _readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start:end]


def test_readme_policy_commands_run():
    import re
    import subprocess
    section = _readme_section("Policy language")
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    for line in block.splitlines():
        command = line.split("  #")[0].strip()
        if not command:
            continue
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert out.returncode == 0, (command, out.stdout[-2000:], out.stderr[-2000:])
        assert "ERROR" not in out.stdout


def test_readme_error_example_is_what_validate_prints(tmp_path):
    import re
    import subprocess
    import sys
    section = _readme_section("Policy language")
    shown = re.search(r"^ERROR .*$", section, re.M).group(0)
    broken = tmp_path / "retail_card.yaml"
    broken.write_text((ROOT / "rulesets" / "retail_card.yaml").read_text().replace(
        "credit_report.other_banks.overdue_accounts_6m >= 2", "credit_report.other_banks.overdue_acounts_6m >= 2", 1))
    out = subprocess.run([sys.executable, "-m", "app.engine", "validate", str(broken)], capture_output=True,
                         text=True, cwd=ROOT)
    printed = [line for line in out.stdout.splitlines() if line.startswith("ERROR")]
    assert printed == [shown.replace("rulesets/retail_card.yaml", str(broken))]
