"""Messy bureau data, generated: retail-card snapshots the way real credit files arrive,
with missing incomes, utilization far above 1, a monthly income of 1.00 (and the
debt-to-income it makes explode), and "unknown" written where a code or number belongs.

Each row comes with what Vigil must do with it: decide, naming the fields whose values
fail their plausibility check, or refuse it with a 422 naming the field and the value."""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from tests.conftest import clean_snapshot

PERSONAL = "the value (personal, not shown)"


@dataclass
class Row:
    item: dict                                    # a POST /v1/decisions body
    kind: str
    findings: set = field(default_factory=set)    # fields expected in data_quality
    errors: dict = field(default_factory=dict)    # path -> text the 422 message must contain


def _money(x: float) -> str:
    return f"{x:.2f}"


def _ratio(x: float) -> str:
    return f"{x:.4f}"


def rows(n: int, seed: int = 2026) -> list[Row]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        snap = copy.deepcopy(clean_snapshot(f"M-{i:05d}"))
        limit = rng.choice([500, 2000, 5000, 20000])
        utilization = rng.betavariate(1.3, 4.0)
        snap["card"].update(limit=_money(limit), balance=_money(limit * utilization), utilization=_ratio(utilization))
        snap["customer"]["monthly_income"] = _money(rng.lognormvariate(8.5, 0.6))
        snap["credit_report"]["debt_to_income"] = _ratio(rng.uniform(0.05, 0.6))
        kind = rng.choice(["clean", "no_income", "over_limit", "utilization_outlier", "utilization_absurd",
                           "income_one", "unknown_status", "unknown_ratio", "unknown_income", "negative_count",
                           "sentinel_date"])
        row = Row({"ruleset_id": "retail_card", "customer_id": snap["customer"]["id"], "snapshot": snap}, kind)
        customer, card, report = snap["customer"], snap["card"], snap["credit_report"]
        if kind == "no_income":
            del customer["monthly_income"]
            del report["debt_to_income"]
        elif kind == "over_limit":              # above 1 but plausible: acted on, not flagged
            u = rng.uniform(1.0, 2.0)
            card.update(utilization=_ratio(u), balance=_money(limit * u))
        elif kind == "utilization_outlier":     # e.g. a limit keyed in cents, or a stale limit
            u = rng.uniform(2.01, 5000)
            card.update(utilization=_ratio(u), balance=_money(min(limit * u, 99_000_000)))
            row.findings = {"card.utilization"}
        elif kind == "utilization_absurd":      # beyond anything valid: refused
            u = rng.uniform(1_000_001, 9_000_000)
            card["utilization"] = _ratio(u)
            row.errors = {"card.utilization": f"{_ratio(u)} is above the maximum 1000000"}
        elif kind == "income_one":
            customer["monthly_income"] = "1.00"
            report["debt_to_income"] = _ratio(rng.uniform(200, 5000))
            row.findings = {"customer.monthly_income", "credit_report.debt_to_income"}
        elif kind == "unknown_status":
            customer["employment_status"] = "unknown"
            row.errors = {"customer.employment_status": '"unknown" is not one of'}
        elif kind == "unknown_ratio":
            report["debt_to_income"] = "unknown"
            row.errors = {"credit_report.debt_to_income": '"unknown" is not a decimal number'}
        elif kind == "unknown_income":          # personal: named, its value never repeated
            customer["monthly_income"] = "unknown"
            row.errors = {"customer.monthly_income": f"{PERSONAL} is not a decimal number"}
        elif kind == "negative_count":          # a "-1 means unknown" code
            report["other_banks"]["hard_inquiries_3m"] = -1
            row.errors = {"credit_report.other_banks.hard_inquiries_3m": "-1 is below the minimum 0"}
        elif kind == "sentinel_date":
            report["as_of"] = "0000-00-00"
            row.errors = {"credit_report.as_of": '"0000-00-00" is not a date (YYYY-MM-DD)'}
        out.append(row)
    return out
