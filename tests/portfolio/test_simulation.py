"""Impact simulation: exactly the customers a change affects, counts, causes, the HTML page."""
from __future__ import annotations

import copy
import datetime as dt
import re

import yaml

from app import store
from app.config import ROOT
from app.portfolio import synthetic
from app.portfolio.history import logged_snapshots
from app.portfolio.readers import SnapshotFile
from app.portfolio.report_html import render_html
from app.portfolio.review import review
from app.portfolio.simulation import simulate

from .helpers import library, personal_loan, write_jsonl

DPDS = [0, 5, 14, 15, 16, 22, 29, 30, 31, 95]


def _published_doc() -> dict:
    return yaml.safe_load((ROOT / "rulesets" / "personal_loan.yaml").read_text())


def _candidate(**when) -> object:
    """The published personal-loan ruleset, version 2, with rule conditions replaced."""
    doc = _published_doc()
    doc["version"] += 1
    for rule in doc["rules"]:
        if rule["id"] in when:
            rule["when"] = when[rule["id"]]
    return library().compile_ruleset(doc, "candidate")


def _portfolio() -> list[dict]:
    """Clean borrowers who differ in the days past due of their first loan, some with an
    open court judgment (legal risk), some seeking credit (four or more inquiries)."""
    base = yaml.safe_load((ROOT / "rulesets" / "personal_loan.scenarios.yaml").read_text())["bases"]["clean"]
    snaps = []
    n = 0
    for dpd in DPDS:
        for legal in (False, True):
            for hungry in (False, True):
                n += 1
                snap = copy.deepcopy(base)
                snap["customer"]["id"] = f"C-{n:03d}-dpd{dpd}{'-legal' if legal else ''}{'-hungry' if hungry else ''}"
                snap["loans"][0]["dpd"] = snap["loans"][0]["worst_dpd_12m"] = dpd
                if legal:
                    snap["outside_records"]["court_judgments"] = [
                        {"amount": "25000.00", "status": "open", "filed": "2025-06-01"}]
                if hungry:
                    snap["credit_report"]["other_banks"]["hard_inquiries_3m"] = 5
                    snap["credit_report"]["other_banks"]["hard_inquiries_6m"] = 6
                snaps.append(snap)
    return snaps


def _expected_changes(snaps) -> set[str]:
    # OWN-001 at 15 days instead of 30: a loan 15-29 days past due now counts as own
    # delinquency, which makes the borrower orange with a call. A borrower with an open
    # judgment is orange with a call already, so nothing changes for them.
    return {s["customer"]["id"] for s in snaps
            if 15 <= s["loans"][0]["dpd"] < 30 and not s["outside_records"]["court_judgments"]}


def test_a_changed_rule_changes_exactly_the_customers_it_should():
    snaps = _portfolio()
    report = simulate(personal_loan(), _candidate(**{"OWN-001": "any(l in loans: l.dpd >= 15)"}), snaps, top=5)
    expected = _expected_changes(snaps)
    assert len(expected) == 8
    assert {c.customer_id for c in report.changed} == expected
    assert report.snapshots == len(snaps) and not report.errors
    for change in report.changed:
        assert change.after["level"] == "orange"
        assert "contact_customer" in change.after["actions"]
        assert change.before["level"] in ("green", "yellow")
        assert "OWN-001" in change.rules and "ACT-060" in change.rules
    # the legal-risk borrowers with 15-29 days fire OWN-001 now, with the same outcome
    assert report.fired_differently == 8
    causes = {r["rule"]: r for r in report.rules}
    assert causes["OWN-001"]["edited"] and causes["OWN-001"]["newly_fired"] == 8
    assert causes["ACT-060"]["newly_fired"] == 8
    assert causes["MNT-001"]["no_longer_fired"] == 4       # the four who were clean before
    assert report.rule_edits["modified"] == ["OWN-001"] and report.rule_edits["effect_changed"] == []


def test_counts_before_and_after_add_up():
    snaps = _portfolio()
    report = simulate(personal_loan(), _candidate(**{"OWN-001": "any(l in loans: l.dpd >= 15)"}), snaps)
    n = len(snaps)
    assert sum(c["before"] for c in report.level_counts.values()) == n
    assert sum(c["after"] for c in report.level_counts.values()) == n
    assert report.level_counts["orange"]["delta"] == 8
    assert report.level_counts["green"]["delta"] == -4 and report.level_counts["yellow"]["delta"] == -4
    assert report.action_counts["maintain"]["delta"] == -4
    assert report.action_counts["contact_customer"]["delta"] == 8
    levels = report.levels
    assert levels == ["green", "yellow", "orange", "red"]
    matrix = report.level_moves
    assert sum(map(sum, matrix)) == n
    assert matrix[levels.index("green")][levels.index("orange")] == 4
    assert matrix[levels.index("yellow")][levels.index("orange")] == 4
    moved = sum(matrix[i][j] for i in range(4) for j in range(4) if i != j)
    assert moved == 8


def test_the_same_policy_under_a_new_version_changes_nothing():
    snaps = list(synthetic.snapshots(80, seed=12))
    report = simulate(personal_loan(), _candidate(), snaps, workers=2, chunk_size=9)
    assert report.changed == [] and report.fired_differently == 0 and report.rules == []
    assert all(c["delta"] == 0 for c in report.action_counts.values())
    assert report.level_moves == [[row[j] if i == j else 0 for j, _ in enumerate(row)]
                                  for i, row in enumerate(report.level_moves)]


def test_workers_do_not_change_the_report():
    snaps = list(synthetic.snapshots(300, seed=13))
    candidate = _candidate(**{"EXT-003": "credit_report.debt_to_income >= 0.4"})
    alone = simulate(personal_loan(), candidate, snaps, top=7).to_dict()
    shared = simulate(personal_loan(), candidate, snaps, top=7, workers=2, chunk_size=11).to_dict()
    alone.pop("seconds"), shared.pop("seconds")
    assert alone["changed_count"] > 10
    assert alone == shared


def test_top_changed_customers_come_with_both_explanations():
    snaps = _portfolio()
    report = simulate(personal_loan(), _candidate(**{"OWN-001": "any(l in loans: l.dpd >= 15)"}), snaps, top=3)
    assert len(report.top) == 3
    assert simulate(personal_loan(), _candidate(**{"OWN-001": "any(l in loans: l.dpd >= 15)"}), snaps, top=0).top == []
    scores = [tuple(t["score"]) for t in report.top]
    assert scores == sorted(scores, reverse=True)
    changed = {c.customer_id for c in report.changed}
    for entry in report.top:
        assert entry["customer_id"] in changed
        before, after = entry["before"], entry["after"]
        assert before["level"] != after["level"] or before["actions"] != after["actions"]
        assert "OWN-001" in [f["rule"] for f in entry["after"]["trail"]]
        assert "OWN-001" not in [f["rule"] for f in entry["before"]["trail"]]


def test_snapshots_that_break_the_contract_are_counted_apart():
    snaps = _portfolio()[:4] + [{"customer": {"id": "C-bad"}}]
    report = simulate(personal_loan(), _candidate(), snaps)
    assert report.snapshots == 4
    assert [(e["ref"], e["customer_id"], e["reason"], e["side"]) for e in report.errors] == \
        [(5, "C-bad", "validation_error", "baseline")]


def test_simulation_on_the_decision_log_takes_each_customer_s_latest_snapshot(tmp_path, db_path):
    ruleset = personal_loan()
    snaps = _portfolio()
    first = write_jsonl(tmp_path / "first.jsonl", snaps)
    # a later review of the same customers in which everyone is 20 days past due
    later = copy.deepcopy(snaps)
    for s in later:
        s["loans"][0]["dpd"] = s["loans"][0]["worst_dpd_12m"] = 20
    second = write_jsonl(tmp_path / "second.jsonl", later)
    since = dt.datetime.now(dt.timezone.utc).isoformat()
    review(ruleset, SnapshotFile(first, ruleset.contract), tmp_path / "r1.jsonl", log=db_path, progress=False)
    review(ruleset, SnapshotFile(second, ruleset.contract), tmp_path / "r2.jsonl", log=db_path, progress=False)
    until = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).isoformat()
    db = store.connect(db_path)
    try:
        assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 2 * len(snaps)
        candidate = _candidate(**{"OWN-001": "any(l in loans: l.dpd >= 15)"})
        report = simulate(ruleset, candidate, logged_snapshots(db, "personal_loan", since, until))
        empty = simulate(ruleset, candidate, logged_snapshots(db, "personal_loan", "2020-01-01", "2020-02-01"))
    finally:
        db.close()
    assert report.snapshots == len(snaps)
    assert {c.customer_id for c in report.changed} == _expected_changes(later)
    assert len(report.changed) == 20            # everyone without an open judgment
    assert all(isinstance(c.ref, str) for c in report.changed)   # refs are decision ids
    assert empty.snapshots == 0 and empty.changed == []


def test_the_html_page_is_self_contained_and_escapes_what_it_shows():
    snaps = _portfolio()
    snaps[3]["customer"]["id"] = "C-<script>alert(1)</script>"
    snaps[3]["loans"][0]["dpd"] = snaps[3]["loans"][0]["worst_dpd_12m"] = 20
    snaps[3]["outside_records"]["court_judgments"] = []
    report = simulate(personal_loan(), _candidate(**{"OWN-001": "any(l in loans: l.dpd >= 15)"}), snaps, top=3)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"\b(src|href)\s*=", page, re.I)
    assert page.count("<svg ") == 3
    assert "C-&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for change in report.changed:
        assert change.customer_id.replace("<", "&lt;").replace(">", "&gt;") in page
    assert ">Warning levels<" in page and ">Warning-level moves (customers)<" in page and ">Actions" in page


def test_chart_axes_end_on_a_round_number_just_above_the_largest_bar():
    from app.portfolio.report_html import nice_top
    assert nice_top(9197) == (10000, 2000)
    assert nice_top(306) == (400, 100)
    for value in range(1, 3000, 7):
        top, step = nice_top(value)
        assert value <= top <= 2.5 * value and top % step == 0 and top // step <= 5


def _retail_card_cut(percent: int):
    doc = yaml.safe_load((ROOT / "rulesets" / "retail_card.yaml").read_text())
    doc["version"] += 1
    rule = next(r for r in doc["rules"] if r["id"] == "ACT-010")
    rule["actions"] = [{"reduce_limit": {"percent": percent}}, "contact_customer"]
    return library().compile_ruleset(doc, "candidate")


def test_the_report_shows_each_edit_the_parameter_changes_titles_and_which_side_is_the_draft():
    from tests.conftest import DELINQUENT_SNAPSHOT, clean_snapshot

    implausible = clean_snapshot("C-odd")
    implausible["card"]["utilization"] = "7.5000"
    baseline, candidate = library().ruleset("retail_card"), _retail_card_cut(35)
    report = simulate(baseline, candidate, [DELINQUENT_SNAPSHOT, clean_snapshot(), implausible],
                      candidate_origin="draft", baseline_origin="stored, published, in effect")
    assert report.changed_count == 1
    assert report.param_changes == [{"action": "reduce_limit", "param": "percent", "before": 30, "after": 35,
                                     "customers": 1}]
    [detail] = report.rule_edits["details"]
    assert detail["rule"] == "ACT-010" and detail["change"] == "edited"
    assert detail["before"]["actions"] == [{"reduce_limit": {"percent": 30}}, "contact_customer"]
    assert detail["after"]["actions"] == [{"reduce_limit": {"percent": 35}}, "contact_customer"]
    assert detail["before"]["when"] == detail["after"]["when"] == "signal(external_delinquency) and card.utilization > 0.80"
    assert report.action_titles["reduce_limit"] == "Reduce the credit limit"
    assert report.data_quality_counts == {"card.utilization": {"before": 1, "after": 1, "delta": 0}}
    lines = report.lines()
    assert lines[1] == ("  candidate: Retail credit card post-loan monitoring, version 2 (draft); "
                        "baseline: Retail credit card post-loan monitoring, version 1 (stored, published, in effect)")
    assert "  rule ACT-010 edited: actions [{reduce_limit: {percent: 30}}, contact_customer] -> " \
           "[{reduce_limit: {percent: 35}}, contact_customer]" in lines
    assert "  reduce_limit percent: 30 -> 35 for 1 customers" in lines
    assert "  data quality (implausible values read as missing): card.utilization 1 -> 1 (+0)" in lines
    page = render_html(report)
    assert 'Candidate <span class="badge">draft</span>' in page
    assert "Reduce the credit limit <code>reduce_limit</code>" in page
    assert "<h3>Action parameters that change</h3>" in page and "<td><code>35</code></td>" in page
    assert "<td>actions</td>" in page and "<h3>Data quality</h3>" in page


def test_a_simulation_over_nothing_says_so():
    baseline, candidate = library().ruleset("retail_card"), _retail_card_cut(35)
    report = simulate(baseline, candidate, [], source="the decision log, 2026-04-01 to 2026-05-01")
    note = "No snapshots to simulate on: the decision log, 2026-04-01 to 2026-05-01 holds none."
    assert report.note == note and report.to_dict()["note"] == note
    assert report.lines()[-1] == "  " + note
    assert f'<p class="note">{note}</p>' in render_html(report)
