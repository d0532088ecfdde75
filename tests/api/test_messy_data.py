"""Every row of messy bureau data gets a decision (naming the values it did not trust)
or a 422 naming the field and the value, through the API and the portfolio review;
nothing crashes."""
from __future__ import annotations

import io
import json
from collections import Counter

from app.engine import load_library
from app.portfolio.readers import SnapshotFile
from app.portfolio.review import review
from tests.conftest import ROOT
from tests.messy import rows

ROWS = rows(400)


def test_the_fixture_has_every_kind_of_mess():
    assert Counter(r.kind for r in ROWS).keys() == {
        "clean", "no_income", "over_limit", "utilization_outlier", "utilization_absurd", "income_one",
        "unknown_status", "unknown_ratio", "unknown_income", "negative_count", "sentinel_date"}


def test_every_row_is_decided_with_its_findings_or_refused_naming_field_and_value(client):
    results = []
    for start in range(0, len(ROWS), 200):
        r = client.post("/v1/decisions/batch", json={"items": [row.item for row in ROWS[start:start + 200]]})
        assert r.status_code == 200
        results += r.get_json()["results"]
    assert len(results) == len(ROWS)
    for row, result in zip(ROWS, results):
        if row.errors:
            assert result["status"] == 422, (row.kind, result)
            details = {d["path"]: d["message"] for d in result["error"]["details"]}
            assert set(details) == set(row.errors), (row.kind, details)
            for path, text in row.errors.items():
                assert text in details[path], (row.kind, details)
        else:
            assert result["status"] == 200, (row.kind, result)
            decision = result["decision"]
            assert {f["field"] for f in decision["data_quality"]} == row.findings, (row.kind, decision)
            if row.findings:
                assert "verify_data" in [a["action"] for a in decision["actions"]]
                assert "PLS-010" in decision["fired"]
            for finding in decision["data_quality"]:
                sent = row.item["snapshot"]
                for part in finding["field"].split("."):
                    sent = sent[part]
                assert finding["value"] == sent and finding["expectation"]


def test_a_flagged_decision_is_explained(client):
    row = next(r for r in ROWS if r.kind == "income_one")
    decision = client.post("/v1/decisions", json=row.item).get_json()
    story = client.get(f"/v1/decisions/{decision['decision_id']}/explanation").get_json()
    assert {f["field"] for f in story["data_quality"]} == row.findings
    text = story["paragraphs"][-1]
    assert text.startswith("Data quality: customer.monthly_income was 1.00, expected at least 100; "
                           "credit_report.debt_to_income was ")
    assert ", expected at most 10." in text
    assert text.endswith("The rules read these values as missing.")
    verify = next(a for a in story["actions"] if a["action"] == "verify_data")
    assert [r["rule"] for r in verify["rules"]] == ["PLS-010"]
    replay = client.post(f"/v1/decisions/{decision['decision_id']}/replay").get_json()
    assert replay["identical"] is True


def test_the_portfolio_review_counts_findings_per_field(tmp_path):
    ruleset = load_library(ROOT / "rulesets", ROOT / "schemas").ruleset("retail_card")
    source = tmp_path / "messy.jsonl"
    source.write_text("".join(json.dumps(row.item["snapshot"]) + "\n" for row in ROWS))
    stderr = io.StringIO()
    summary = review(ruleset, SnapshotFile(source, ruleset.contract), tmp_path / "out.jsonl", workers=0,
                     progress=False, stream=stderr)
    refused = sum(1 for r in ROWS if r.errors)
    expected = Counter(f for r in ROWS for f in r.findings)
    assert (summary.tally.decided, summary.tally.errors) == (len(ROWS) - refused, refused)
    assert summary.tally.data_quality == expected
    line = next(x for x in summary.lines() if x.startswith("  data quality"))
    assert f"card.utilization {expected['card.utilization']:,}" in line
    results = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [{f["field"] for f in r.get("data_quality", ())} for r in results] == [r.findings for r in ROWS]
    for row, result in zip(ROWS, results):
        if row.errors:
            assert {d["path"] for d in result["error"]["details"]} == set(row.errors)
