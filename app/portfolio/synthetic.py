"""Seeded, made-up personal-loan snapshots (contract personal_loan@1), for the benchmark
and the tests. Most borrowers are clean; a few in a hundred carry each kind of risk the
shipped policy looks for, so every part of the ruleset gets work."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

from app.core import codec


def _money(rng: random.Random, lo: float, hi: float) -> str:
    return f"{rng.uniform(lo, hi):.2f}"


def snapshot(rng: random.Random, number: int) -> dict:
    income = rng.choice([3500, 6000, 9000, 12000, 20000, 45000]) * rng.uniform(0.8, 1.2)
    employment = rng.choices(["employed", "self_employed", "unemployed", "retired", "student"],
                             [80, 10, 3, 5, 2])[0]
    segment = rng.choices(["mass", "affluent", "private_banking"], [85, 13, 2])[0]
    customer = {"id": f"P-{number:07d}", "segment": segment,
                "months_on_book": rng.randint(0, 240), "employment_status": employment,
                "monthly_income": f"{income:.2f}"}
    if rng.random() < 0.9:
        customer["income_change_pct"] = f"{rng.choice([rng.uniform(-10, 15)] * 19 + [rng.uniform(-60, -30)]):.2f}"
    loans = []
    for n in range(rng.choices([1, 2, 3], [70, 25, 5])[0]):
        dpd = rng.choices([0, rng.randint(1, 29), rng.randint(30, 89), rng.randint(90, 400)], [90, 5, 3, 2])[0]
        product = rng.choice(["unsecured_consumer", "secured_consumer", "auto", "education", "credit_line"])
        outstanding = rng.uniform(1000, 300000 if product != "credit_line" else 50000)
        loan = {"account_id": f"PL-{number:07d}-{n + 1}", "product": product, "outstanding": f"{outstanding:.2f}",
                "installment": f"{outstanding / rng.randint(12, 84):.2f}", "dpd": dpd,
                "worst_dpd_12m": max(dpd, rng.choices([0, rng.randint(1, 120)], [85, 15])[0]),
                "restructured": rng.random() < 0.03}
        if product == "credit_line":
            loan["undrawn"] = _money(rng, 0, 30000)
        if rng.random() < 0.8:
            loan["remaining_term_months"] = rng.randint(1, 120)
        loans.append(loan)
    overdue_6m = rng.choices([0, 1, 2, 3], [88, 6, 4, 2])[0]
    overdue_12m = overdue_6m + rng.choices([0, 1], [90, 10])[0]
    report = {"as_of": f"2026-0{rng.randint(1, 3)}-{rng.randint(10, 28)}",
              "other_banks": {"overdue_accounts_6m": overdue_6m, "overdue_accounts_12m": overdue_12m,
                              "overdue_accounts_24m": overdue_12m + rng.choices([0, 1], [90, 10])[0],
                              "worst_dpd": rng.choices([0, rng.randint(30, 89), rng.randint(90, 360)], [85, 10, 5])[0]
                              if overdue_12m else 0,
                              "debt": _money(rng, 0, 200000),
                              "new_accounts_3m": rng.choices([0, 1, 2, 3], [80, 12, 6, 2])[0],
                              "hard_inquiries_3m": rng.choices([0, 1, 2, 4, 6], [60, 20, 12, 6, 2])[0],
                              "hard_inquiries_6m": 0}}
    report["other_banks"]["hard_inquiries_6m"] = report["other_banks"]["hard_inquiries_3m"] + rng.randint(0, 3)
    if rng.random() < 0.95:
        report["debt_to_income"] = f"{rng.choice([rng.uniform(0.05, 0.55)] * 9 + [rng.uniform(0.6, 1.5)]):.4f}"
    snap = {"customer": customer, "loans": loans, "credit_report": report}
    if rng.random() < 0.7:
        records: dict = {"enforcement_listed": rng.random() < 0.01, "defaulter_listed": rng.random() < 0.005,
                         "tax_arrears": _money(rng, 0, 500) if rng.random() < 0.97 else _money(rng, 10000, 50000),
                         "administrative_penalties": rng.choices([0, 1, 3], [95, 4, 1])[0], "court_judgments": []}
        if rng.random() < 0.03:
            records["court_judgments"].append({"amount": _money(rng, 1000, 90000),
                                               "status": rng.choice(["open", "settled", "dismissed"]),
                                               "filed": f"202{rng.randint(3, 6)}-0{rng.randint(1, 9)}-15"})
        snap["outside_records"] = records
    if rng.random() < 0.8:
        snap["account_flows"] = {
            "large_outgoing_transfers_3m": _money(rng, 0, 20000) if rng.random() < 0.97 else _money(rng, 1e5, 5e5),
            "salary_stopped": rng.random() < 0.02,
            "balance_trend_pct": f"{rng.choice([rng.uniform(-20, 30)] * 19 + [rng.uniform(-90, -50)]):.2f}",
            "proceeds_payee_category": rng.choices(["retail", "tuition", "car_dealer", "securities", "gambling"],
                                                   [70, 15, 12, 2, 1])[0]}
    return snap


def snapshots(n: int, seed: int = 7) -> Iterator[dict]:
    rng = random.Random(seed)
    for number in range(1, n + 1):
        yield snapshot(rng, number)


def write_jsonl(path: str | Path, n: int, seed: int = 7) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as fh:
        for snap in snapshots(n, seed):
            fh.write(codec.dumps(snap) + "\n")
    return path
