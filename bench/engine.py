"""Benchmark of the Vigil engine on the shipped retail card ruleset.

Prints one table from one run:

* the Vigil engine: ``ruleset.run(validated, explain="summary")`` over pre-validated
  snapshots (validation is timed on its own line and is not part of the engine rate);
* (a) the floor: the same rule conditions hand-written as Python functions, with the
  same forward chaining (signals, priority then id, stratified ``not signal(...)``) and
  the same combination of actions, level and review frequency;
* (b) a peer: the same rules as a zen-engine (GoRules) JDM decision graph, one
  "collect" decision table per chaining stage.

Before anything is timed, all three are checked against each other on every snapshot
(fired rules, final actions, level, review) and the mismatches are counted.

    python bench/engine.py [--n 10000] [--memory 100000] [--seed 7]

Rates are best-of-3 passes over the same snapshots, the three contenders interleaved in
each pass; on a shared machine the ratios mean more than the absolute numbers.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import heapq
import json
import os
import random
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Callable, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.engine import load_library, read_yaml  # noqa: E402

RULESET_ID = "retail_card"

# =========================================================================================
# Snapshots
# =========================================================================================


def _money(x: float) -> str:
    return f"{x:.2f}"


def _ratio(x: float) -> str:
    return f"{x:.4f}"


def _date(rng: random.Random, start: str, end: str) -> str:
    a, b = _dt.date.fromisoformat(start).toordinal(), _dt.date.fromisoformat(end).toordinal()
    return _dt.date.fromordinal(rng.randint(a, b)).isoformat()


def _clean(rng: random.Random, i: int) -> dict:
    """A customer with nothing wrong, optional fields left out at realistic rates."""
    customer: dict[str, Any] = {
        "id": f"C-{i:07d}",
        "segment": rng.choices(["mass", "affluent", "private_banking"], [75, 20, 5])[0],
        "months_on_book": rng.choice([rng.randint(0, 11), rng.randint(12, 120), rng.randint(120, 480)]),
    }
    if rng.random() < 0.85:
        customer["employment_status"] = rng.choices(["employed", "self_employed", "retired", "student"],
                                                    [70, 15, 10, 5])[0]
    income = None
    if rng.random() < 0.85:
        income = round(rng.lognormvariate(8.7, 0.5), 2)
        customer["monthly_income"] = _money(income)
    if rng.random() < 0.7:
        customer["income_change_pct"] = _money(rng.uniform(-15, 20))

    limit = rng.choice([0.0] * 1 + [2000.0, 5000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0] * 40)
    utilization = rng.betavariate(1.3, 4.0) * 0.75
    balance = round(limit * utilization, 2)
    if rng.random() < 0.02:
        balance = -round(rng.uniform(1, 500), 2)       # in credit
    elif limit == 0 and rng.random() < 0.5:
        balance = round(rng.uniform(1, 500), 2)        # fees on a card whose limit was withdrawn
    card = {
        "account_id": f"CARD-{i:07d}",
        "limit": _money(limit),
        "balance": _money(balance),
        "utilization": _ratio(max(balance, 0) / limit if limit else 0.0),
        "dpd": rng.choices([0, rng.randint(1, 29)], [93, 7])[0],
        "worst_dpd_12m": 0,
        "months_min_payment_only": rng.choices([0, 1, 2, 3, 4, 5], [60, 12, 10, 8, 6, 4])[0],
        "cash_advance_share": _ratio(rng.choices([0.0, rng.uniform(0, 0.45)], [70, 30])[0]),
    }
    card["worst_dpd_12m"] = max(card["dpd"], rng.choices([0, rng.randint(1, 59)], [85, 15])[0])

    o6 = 0
    o12 = o6 + rng.choices([0, 1], [92, 8])[0]
    o24 = o12 + rng.choices([0, 1, 2], [85, 10, 5])[0]
    hi3 = rng.choices([0, 1, 2, 3], [50, 30, 15, 5])[0]
    other = {
        "overdue_accounts_6m": o6, "overdue_accounts_12m": o12, "overdue_accounts_24m": o24,
        "worst_dpd": 0 if o24 == 0 else rng.randint(30, 89) if o12 else rng.randint(1, 89),
        "debt": _money(rng.choice([0.0, rng.uniform(0, 60000), rng.uniform(0, 200000)])),
        "new_accounts_3m": rng.choices([0, 1], [85, 15])[0],
        "hard_inquiries_3m": hi3,
        "hard_inquiries_6m": hi3 + rng.choices([0, 1, 2, 3], [50, 30, 15, 5])[0],
    }
    report: dict[str, Any] = {
        "as_of": _date(rng, "2025-10-01", "2026-03-31") if rng.random() < 0.92 else _date(rng, "2025-01-01",
                                                                                          "2025-09-30"),
        "other_banks": other,
    }
    if income is not None and rng.random() < 0.95:
        report["debt_to_income"] = _ratio(rng.uniform(0.02, 0.55))

    snap: dict[str, Any] = {"customer": customer, "card": card, "credit_report": report}
    if rng.random() < 0.7:
        records: dict[str, Any] = {}
        if rng.random() < 0.9:
            k = rng.choices([0, 1, 2, 3], [75, 15, 7, 3])[0]
            records["court_judgments"] = [
                {"amount": _money(rng.uniform(100, 30000)), "status": rng.choice(["settled", "dismissed"]),
                 "filed": _date(rng, "2015-01-01", "2026-02-28")} for _ in range(k)]
        if rng.random() < 0.9:
            records["enforcement_listed"] = False
        if rng.random() < 0.9:
            records["defaulter_listed"] = False
        if rng.random() < 0.8:
            records["tax_arrears"] = _money(rng.choice([0.0, rng.uniform(0, 3000)]))
        if rng.random() < 0.8:
            records["administrative_penalties"] = rng.choices([0, 1, 2], [80, 15, 5])[0]
        snap["outside_records"] = records
    if rng.random() < 0.75:
        flows: dict[str, Any] = {}
        if rng.random() < 0.9:
            top = (income or 5000) * 2
            flows["large_outgoing_transfers_3m"] = _money(rng.choice([0.0, rng.uniform(0, top)]))
        if rng.random() < 0.9:
            flows["salary_stopped"] = False
        if rng.random() < 0.9:
            flows["balance_trend_pct"] = _money(rng.uniform(-40, 40))
        snap["account_flows"] = flows
    return snap


def _set_utilization(s: dict, u: float) -> None:
    card = s["card"]
    limit = float(card["limit"]) or 10000.0
    card["limit"] = _money(limit)
    card["balance"] = _money(round(limit * u, 2))
    card["utilization"] = _ratio(u)


def _income(s: dict) -> float | None:
    v = s["customer"].get("monthly_income")
    return float(v) if v is not None else None


def _records(s: dict) -> dict:
    return s.setdefault("outside_records", {})


def _flows(s: dict) -> dict:
    return s.setdefault("account_flows", {})


def _external(rng, s):
    ob = s["credit_report"]["other_banks"]
    if rng.random() < 0.6:
        ob["overdue_accounts_6m"] = rng.choice([1, 2, 2, 3, 4])      # 1: just below the threshold
    ob["overdue_accounts_12m"] = max(ob["overdue_accounts_6m"], rng.choice([1, 2, 3, 3, 5]))
    ob["overdue_accounts_24m"] = max(ob["overdue_accounts_12m"], ob["overdue_accounts_24m"])
    ob["worst_dpd"] = rng.randint(30, 89)


def _high_utilization(rng, s):
    _set_utilization(s, rng.choice([0.8, 0.8001, rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.05)]))


def _over_limit(rng, s):
    _set_utilization(s, rng.choice([1.05, 1.0501, rng.uniform(1.0, 1.4)]))


def _hunger(rng, s):
    ob = s["credit_report"]["other_banks"]
    pick = rng.randrange(3)
    if pick == 0:
        ob["hard_inquiries_3m"] = rng.randint(3, 9)
    elif pick == 1:
        ob["new_accounts_3m"] = rng.randint(1, 3)
    ob["hard_inquiries_6m"] = max(ob["hard_inquiries_3m"], rng.randint(5, 14) if pick == 2 else 0)


def _income_shock(rng, s):
    pick = rng.randrange(3)
    if pick == 0:
        s["customer"]["employment_status"] = "unemployed"
    elif pick == 1:
        s["customer"]["income_change_pct"] = _money(rng.choice([-30.0, -29.99, rng.uniform(-90, -30)]))
    else:
        _flows(s)["salary_stopped"] = True


def _over_indebted(rng, s):
    income = _income(s)
    if income is not None and rng.random() < 0.5:
        s["credit_report"]["other_banks"]["debt"] = _money(income * rng.uniform(30, 60))
    else:
        s["credit_report"]["debt_to_income"] = _ratio(rng.choice([0.7, 0.6999, rng.uniform(0.7, 2.0)]))


def _legal(rng, s):
    rec = _records(s)
    pick = rng.randrange(3)
    if pick == 0:
        rec.setdefault("court_judgments", []).append(
            {"amount": _money(rng.choice([5000.0, 4999.99, rng.uniform(5000, 80000)])), "status": "open",
             "filed": _date(rng, "2020-01-01", "2026-02-28")})
    elif pick == 1:
        rec["tax_arrears"] = _money(rng.choice([10000.0, rng.uniform(8000, 50000)]))
    else:
        rec["administrative_penalties"] = rng.randint(2, 6)


def _capital_outflow(rng, s):
    flows = _flows(s)
    income = _income(s)
    if income is not None and rng.random() < 0.6:
        flows["large_outgoing_transfers_3m"] = _money(income * rng.uniform(5, 15))
    else:
        flows["large_outgoing_transfers_3m"] = _money(rng.choice([50000.0, rng.uniform(40000, 300000)]))
        flows["balance_trend_pct"] = _money(rng.choice([-60.0, rng.uniform(-95, -50)]))


def _min_payment(rng, s):
    s["card"]["months_min_payment_only"] = rng.randint(5, 18)
    _set_utilization(s, rng.choice([0.6, rng.uniform(0.55, 0.95)]))
    if rng.random() < 0.4:
        s["card"]["cash_advance_share"] = _ratio(rng.uniform(0.4, 0.9))


def _cash_advance(rng, s):
    s["card"]["cash_advance_share"] = _ratio(rng.choice([0.5, rng.uniform(0.5, 1.0)]))


def _own_delinquency(rng, s):
    card = s["card"]
    card["dpd"] = rng.choice([30, rng.randint(30, 89)])
    card["worst_dpd_12m"] = max(card["worst_dpd_12m"], card["dpd"])


def _recent_own(rng, s):
    card = s["card"]
    card["dpd"] = rng.randint(0, 29)
    card["worst_dpd_12m"] = rng.choice([60, rng.randint(59, 150)])


RISKS = [(_external, 14), (_high_utilization, 16), (_over_limit, 5), (_hunger, 12), (_income_shock, 10),
         (_over_indebted, 10), (_legal, 7), (_capital_outflow, 6), (_min_payment, 8), (_cash_advance, 4),
         (_own_delinquency, 6), (_recent_own, 5)]


def _red(rng, s):
    pick = rng.randrange(6)
    if pick == 0:
        s["credit_report"]["other_banks"]["worst_dpd"] = rng.randint(90, 400)
    elif pick == 1:
        _records(s)[rng.choice(["enforcement_listed", "defaulter_listed"])] = True
    elif pick == 2:
        rec = _records(s)
        rec["court_judgments"] = rec.get("court_judgments", []) + [
            {"amount": _money(rng.uniform(200, 20000)), "status": "open",
             "filed": _date(rng, "2018-01-01", "2026-02-28")} for _ in range(rng.randint(3, 7))]
    elif pick == 3:
        s["card"]["dpd"] = rng.randint(90, 400)
        s["card"]["worst_dpd_12m"] = max(s["card"]["dpd"], s["card"]["worst_dpd_12m"])
    elif pick == 4:
        _external(rng, s)
        s["credit_report"]["other_banks"]["overdue_accounts_6m"] = 2
        _own_delinquency(rng, s)
    else:
        _external(rng, s)
        s["credit_report"]["other_banks"]["overdue_accounts_6m"] = 3
        s["customer"]["employment_status"] = "unemployed"
        _capital_outflow(rng, s)


def generate(n: int, seed: int = 7) -> list[dict]:
    """``n`` raw snapshots (JSON-like, decimals as strings): ~73% clean, ~24% with some
    risk, ~3% red; optional fields and whole optional sections left out at random."""
    rng = random.Random(seed)
    funcs, weights = zip(*RISKS)
    out = []
    for i in range(n):
        s = _clean(rng, i)
        roll = rng.random()
        if roll < 0.03:
            _red(rng, s)
            for f in rng.choices(funcs, weights, k=rng.randint(0, 2)):
                f(rng, s)
        elif roll < 0.27:
            for f in rng.choices(funcs, weights, k=rng.choices([1, 2, 3], [60, 30, 10])[0]):
                f(rng, s)
        out.append(s)
    return out


# =========================================================================================
# Outcomes, as compared between the three
# =========================================================================================

class Outcome(NamedTuple):
    fired: tuple            # rule ids in firing order (zen: in table order)
    actions: tuple          # sorted ((action, ((param, value), ...)), ...)
    level: str
    review: str


def engine_outcome(ev) -> Outcome:
    actions = tuple(sorted((a.action, tuple(sorted(a.params.items()))) for a in ev.actions))
    return Outcome(ev.fired, actions, ev.level, ev.review_frequency)


# =========================================================================================
# (a) The floor: hand-written plain Python
# =========================================================================================

D = Decimal
CUTOFF_DQ = _dt.date(2025, 10, 1)
FLOOR_CONDITIONS: dict[str, tuple[str, Callable]] = {}


def cond(rule_id: str, when: str):
    """Register the hand-written Python for one rule; ``when`` must be the ruleset's text."""
    def register(fn):
        FLOOR_CONDITIONS[rule_id] = (when, fn)
        return fn
    return register


# Missing optional values: a comparison reading one is unknown, and a rule fires only when
# its condition is true, so every optional read below is guarded by "is not None".

@cond("EXT-001", "credit_report.other_banks.overdue_accounts_6m >= 2")
def _(d, s):
    return d["credit_report"]["other_banks"]["overdue_accounts_6m"] >= 2


@cond("EXT-002", "credit_report.other_banks.overdue_accounts_12m >= 3")
def _(d, s):
    return d["credit_report"]["other_banks"]["overdue_accounts_12m"] >= 3


@cond("EXT-003", "credit_report.other_banks.worst_dpd >= 90")
def _(d, s):
    return d["credit_report"]["other_banks"]["worst_dpd"] >= 90


@cond("EXT-004", "credit_report.debt_to_income >= 0.7 "
                 "or credit_report.other_banks.debt + card.balance > customer.monthly_income * 36")
def _(d, s):
    report = d["credit_report"]
    dti = report.get("debt_to_income")
    if dti is not None and dti >= D("0.7"):
        return True
    income = d["customer"].get("monthly_income")
    return income is not None and report["other_banks"]["debt"] + d["card"]["balance"] > income * 36


@cond("UTL-001", "card.utilization > 0.80")
def _(d, s):
    return d["card"]["utilization"] > D("0.80")


@cond("UTL-002", "card.balance / card.limit > 1.05")
def _(d, s):
    card = d["card"]
    return card["limit"] != 0 and card["balance"] / card["limit"] > D("1.05")


@cond("HUN-001", "credit_report.other_banks.hard_inquiries_3m >= 4 or credit_report.other_banks.new_accounts_3m >= 2")
def _(d, s):
    ob = d["credit_report"]["other_banks"]
    return ob["hard_inquiries_3m"] >= 4 or ob["new_accounts_3m"] >= 2


@cond("HUN-002", "credit_report.other_banks.hard_inquiries_6m >= 8")
def _(d, s):
    return d["credit_report"]["other_banks"]["hard_inquiries_6m"] >= 8


@cond("INC-001", 'customer.employment_status == "unemployed" or customer.income_change_pct <= -30')
def _(d, s):
    c = d["customer"]
    if c.get("employment_status") == "unemployed":
        return True
    change = c.get("income_change_pct")
    return change is not None and change <= -30


@cond("INC-002", "account_flows.salary_stopped")
def _(d, s):
    return d.get("account_flows", {}).get("salary_stopped") is True


@cond("LEG-001", 'any(j in outside_records.court_judgments: j.status == "open" and j.amount >= 5000)')
def _(d, s):
    judgments = d.get("outside_records", {}).get("court_judgments")
    return judgments is not None and any(j["status"] == "open" and j["amount"] >= 5000 for j in judgments)


@cond("LEG-002", "outside_records.enforcement_listed or outside_records.defaulter_listed")
def _(d, s):
    rec = d.get("outside_records", {})
    return rec.get("enforcement_listed") is True or rec.get("defaulter_listed") is True


@cond("LEG-003", "outside_records.tax_arrears >= 10000 or outside_records.administrative_penalties >= 3")
def _(d, s):
    rec = d.get("outside_records", {})
    tax, penalties = rec.get("tax_arrears"), rec.get("administrative_penalties")
    return (tax is not None and tax >= 10000) or (penalties is not None and penalties >= 3)


@cond("LEG-004", 'count(j in outside_records.court_judgments: j.status == "open") >= 3')
def _(d, s):
    judgments = d.get("outside_records", {}).get("court_judgments")
    return judgments is not None and sum(1 for j in judgments if j["status"] == "open") >= 3


@cond("CAP-001", "account_flows.large_outgoing_transfers_3m > customer.monthly_income * 6")
def _(d, s):
    out = d.get("account_flows", {}).get("large_outgoing_transfers_3m")
    income = d["customer"].get("monthly_income")
    return out is not None and income is not None and out > income * 6


@cond("CAP-002", "account_flows.balance_trend_pct <= -60 and account_flows.large_outgoing_transfers_3m >= 50000")
def _(d, s):
    flows = d.get("account_flows", {})
    trend, out = flows.get("balance_trend_pct"), flows.get("large_outgoing_transfers_3m")
    return trend is not None and out is not None and trend <= -60 and out >= 50000


@cond("MPT-001", "card.months_min_payment_only >= 6 and card.utilization >= 0.6")
def _(d, s):
    card = d["card"]
    return card["months_min_payment_only"] >= 6 and card["utilization"] >= D("0.6")


@cond("CSH-001", "card.cash_advance_share >= 0.5")
def _(d, s):
    return d["card"]["cash_advance_share"] >= D("0.5")


@cond("OWN-001", "card.dpd >= 30")
def _(d, s):
    return d["card"]["dpd"] >= 30


@cond("OWN-002", "card.dpd >= 90")
def _(d, s):
    return d["card"]["dpd"] >= 90


@cond("OWN-003", "card.worst_dpd_12m >= 60 and not (card.dpd >= 30)")
def _(d, s):
    card = d["card"]
    return card["worst_dpd_12m"] >= 60 and not card["dpd"] >= 30


@cond("RED-001", "signal(severe_external_delinquency) or signal(severe_legal_risk) or signal(severe_own_delinquency)")
def _(d, s):
    return "severe_external_delinquency" in s or "severe_legal_risk" in s or "severe_own_delinquency" in s


@cond("RED-002", "signal(external_delinquency) and signal(income_shock) and signal(capital_outflow)")
def _(d, s):
    return "external_delinquency" in s and "income_shock" in s and "capital_outflow" in s


@cond("RED-003", "signal(own_delinquency) and signal(external_delinquency)")
def _(d, s):
    return "own_delinquency" in s and "external_delinquency" in s


@cond("ACT-010", "signal(external_delinquency) and card.utilization > 0.80")
def _(d, s):
    return "external_delinquency" in s and d["card"]["utilization"] > D("0.80")


@cond("ACT-011", "signal(external_delinquency) and not signal(high_utilization)")
def _(d, s):
    return "external_delinquency" in s and "high_utilization" not in s


@cond("ACT-012", "signal(severe_external_delinquency)")
def _(d, s):
    return "severe_external_delinquency" in s


@cond("ACT-013", "signal(over_indebtedness) and signal(credit_hunger)")
def _(d, s):
    return "over_indebtedness" in s and "credit_hunger" in s


@cond("ACT-014", "signal(over_indebtedness) and not signal(credit_hunger)")
def _(d, s):
    return "over_indebtedness" in s and "credit_hunger" not in s


@cond("ACT-020", "signal(high_utilization) and not signal(legal_risk) and not signal(external_delinquency)")
def _(d, s):
    return "high_utilization" in s and "legal_risk" not in s and "external_delinquency" not in s


@cond("ACT-021", "signal(high_utilization) and signal(legal_risk)")
def _(d, s):
    return "high_utilization" in s and "legal_risk" in s


@cond("ACT-022", "signal(over_limit)")
def _(d, s):
    return "over_limit" in s


@cond("ACT-030", "signal(credit_hunger) and signal(high_utilization)")
def _(d, s):
    return "credit_hunger" in s and "high_utilization" in s


@cond("ACT-031", "signal(credit_hunger) and customer.months_on_book < 12")
def _(d, s):
    return "credit_hunger" in s and d["customer"]["months_on_book"] < 12


@cond("ACT-032", "signal(credit_hunger) and not signal(high_utilization)")
def _(d, s):
    return "credit_hunger" in s and "high_utilization" not in s


@cond("ACT-040", "signal(income_shock) and signal(high_utilization)")
def _(d, s):
    return "income_shock" in s and "high_utilization" in s


@cond("ACT-041", "signal(income_shock) and not signal(high_utilization)")
def _(d, s):
    return "income_shock" in s and "high_utilization" not in s


@cond("ACT-042", "missing(customer.monthly_income) and signal(high_utilization)")
def _(d, s):
    return d["customer"].get("monthly_income") is None and "high_utilization" in s


@cond("ACT-050", "signal(legal_risk)")
def _(d, s):
    return "legal_risk" in s


@cond("ACT-051", "signal(severe_legal_risk)")
def _(d, s):
    return "severe_legal_risk" in s


@cond("ACT-060", "signal(capital_outflow) and (signal(income_shock) or signal(external_delinquency))")
def _(d, s):
    return "capital_outflow" in s and ("income_shock" in s or "external_delinquency" in s)


@cond("ACT-061", "signal(capital_outflow)")
def _(d, s):
    return "capital_outflow" in s


@cond("ACT-070", "signal(minimum_payment_trap)")
def _(d, s):
    return "minimum_payment_trap" in s


@cond("ACT-071", "signal(minimum_payment_trap) and signal(cash_advance_reliance)")
def _(d, s):
    return "minimum_payment_trap" in s and "cash_advance_reliance" in s


@cond("ACT-080", "signal(own_delinquency)")
def _(d, s):
    return "own_delinquency" in s


@cond("ACT-081", "signal(severe_own_delinquency)")
def _(d, s):
    return "severe_own_delinquency" in s


@cond("ACT-083", "signal(recent_own_delinquency)")
def _(d, s):
    return "recent_own_delinquency" in s


@cond("ACT-090", 'signal(any_risk) and customer.segment in ["private_banking"]')
def _(d, s):
    return "any_risk" in s and d["customer"]["segment"] == "private_banking"


@cond("EXIT-001", "signal(red_risk)")
def _(d, s):
    return "red_risk" in s


@cond("DQ-001", 'credit_report.as_of < date("2025-10-01")')
def _(d, s):
    return d["credit_report"]["as_of"] < CUTOFF_DQ


@cond("MNT-001", "not signal(any_risk)")
def _(d, s):
    return "any_risk" not in s


_SIGNAL_RE = re.compile(r"(not\s+)?signal\((\w+)\)")


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def signal_refs(when: str) -> tuple[frozenset, frozenset]:
    """(signals read positively, signals read under ``not``) of a condition text."""
    pos, neg = set(), set()
    for m in _SIGNAL_RE.finditer(when):
        (neg if m.group(1) else pos).add(m.group(2))
    return frozenset(pos), frozenset(neg)


def _check_texts(doc: dict, conditions: dict, who: str) -> None:
    ids = [r["id"] for r in doc["rules"]]
    missing, extra = sorted(set(ids) - set(conditions)), sorted(set(conditions) - set(ids))
    changed = [r["id"] for r in doc["rules"] if r["id"] in conditions
               and _normal(conditions[r["id"]][0]) != _normal(r["when"])]
    if missing or extra or changed:
        raise SystemExit(f"{who} is out of date with rulesets/{RULESET_ID}.yaml: missing {missing}, "
                         f"extra {extra}, changed conditions {changed}; update bench/engine.py")


class FloorRule(NamedTuple):
    idx: int
    id: str
    rank: int
    fn: Callable
    reads: frozenset
    negates: frozenset
    stratum: int
    signals: tuple
    actions: tuple          # ((name, params-dict), ...)
    level: int | None
    review: int | None


class Floor:
    """Forward chaining over hand-written conditions, with the ruleset's own metadata."""

    def __init__(self, doc: dict):
        _check_texts(doc, FLOOR_CONDITIONS, "the floor")
        self.levels = list(doc["levels"])
        self.frequencies = list(doc["review_frequencies"])
        self.level_review = [self.frequencies.index(doc["levels"][lv]["review"]) for lv in self.levels]
        self.catalogue = {}
        for name, body in doc["actions"].items():
            body = body or {}
            combine = body.get("combine", "once")
            m = re.fullmatch(r"(max|min)\((\w+)\)", combine)
            self.catalogue[name] = (m.groups() if m else None, tuple(body.get("overridden_by") or ()))
        raw = sorted(doc["rules"], key=lambda r: (-r.get("priority", 0), r["id"]))
        derivers: dict[str, list[str]] = defaultdict(list)
        for r in raw:
            for s in r.get("signals") or ():
                derivers[s].append(r["id"])
        refs = {r["id"]: signal_refs(r["when"]) for r in raw}
        strata: dict[str, int] = {}

        def stratum(rid: str) -> int:
            if rid not in strata:
                pos, neg = refs[rid]
                strata[rid] = max([0] + [stratum(x) for s in pos for x in derivers[s]]
                                  + [stratum(x) + 1 for s in neg for x in derivers[s]])
            return strata[rid]

        rules = []
        for idx, r in enumerate(raw):
            actions = []
            for item in r.get("actions") or ():
                name, params = (item, {}) if isinstance(item, str) else next(iter(item.items()))
                actions.append((name, dict(params or {})))
            pos, neg = refs[r["id"]]
            rules.append(FloorRule(idx, r["id"], idx, FLOOR_CONDITIONS[r["id"]][1], pos, neg, stratum(r["id"]),
                                   tuple(r.get("signals") or ()), tuple(actions),
                                   self.levels.index(r["level"]) if r.get("level") else None,
                                   self.frequencies.index(r["review"]) if r.get("review") else None))
        self.rules = rules
        self.first = [r for r in rules if not r.reads and not r.negates]
        self.readers = {s: [r for r in rules if s in r.reads] for s in derivers}
        self.by_stratum = defaultdict(list)
        for r in rules:
            if r.negates:
                self.by_stratum[r.stratum].append(r)
        self.max_stratum = max(self.by_stratum, default=0)

    def fire(self, d: dict) -> list[FloorRule]:
        rules = self.rules
        signals: set = set()
        fired: list[FloorRule] = []
        activated: set = set()
        heap: list[int] = []
        for r in self.first:
            if r.fn(d, signals):
                activated.add(r.idx)
                heap.append(r.idx)
        heapq.heapify(heap)
        phase = 0
        while True:
            if heap:
                rule = rules[heapq.heappop(heap)]
                fired.append(rule)
                for s in rule.signals:
                    if s not in signals:
                        signals.add(s)
                        for r in self.readers.get(s, ()):
                            if r.idx not in activated and r.stratum <= phase and r.fn(d, signals):
                                activated.add(r.idx)
                                heapq.heappush(heap, r.idx)
            elif phase < self.max_stratum:
                phase += 1
                for r in self.by_stratum.get(phase, ()):
                    if r.idx not in activated and r.fn(d, signals):
                        activated.add(r.idx)
                        heapq.heappush(heap, r.idx)
            else:
                return fired

    def evaluate(self, d: dict) -> Outcome:
        fired = self.fire(d)
        # combine: one final action per name (once), or the largest/smallest parameter wins
        requests: dict[str, list] = {}
        for rule in fired:
            for name, params in rule.actions:
                requests.setdefault(name, []).append(params)
        finals = {}
        for name, asked in requests.items():
            combine, _over = self.catalogue[name]
            if combine is None:
                finals[name] = asked[0]
            else:
                pick, param = combine
                best = (max if pick == "max" else min)(p[param] for p in asked)
                finals[name] = next(p for p in asked if p[param] == best)
        # overridden_by: dropped when one of the named actions is final (itself not overridden)
        kept: dict[str, bool] = {}

        def is_kept(name: str) -> bool:
            if name not in kept:
                kept[name] = not any(o in finals and is_kept(o) for o in self.catalogue[name][1])
            return kept[name]

        actions = tuple(sorted((name, tuple(sorted(params.items()))) for name, params in finals.items()
                               if is_kept(name)))
        level = max((r.level for r in fired if r.level is not None), default=0)
        review = max([self.level_review[level]] + [r.review for r in fired if r.review is not None])
        return Outcome(tuple(r.id for r in fired), actions, self.levels[level], self.frequencies[review])


# =========================================================================================
# (b) The peer: zen-engine (GoRules JDM)
# =========================================================================================

# The same conditions in zen's expression language. A comparison on a missing optional
# value is guarded explicitly ("x != null and ..."), which is the policy language's
# "unknown does not fire" (zen would otherwise skip the row on the type error).
# Signals are read from the booleans the graph derives between stages (sig.<name>).
ZEN_CONDITIONS: dict[str, tuple[str, str]] = {
    "EXT-001": ("credit_report.other_banks.overdue_accounts_6m >= 2",
                "credit_report.other_banks.overdue_accounts_6m >= 2"),
    "EXT-002": ("credit_report.other_banks.overdue_accounts_12m >= 3",
                "credit_report.other_banks.overdue_accounts_12m >= 3"),
    "EXT-003": ("credit_report.other_banks.worst_dpd >= 90",
                "credit_report.other_banks.worst_dpd >= 90"),
    "EXT-004": ("credit_report.debt_to_income >= 0.7 "
                "or credit_report.other_banks.debt + card.balance > customer.monthly_income * 36",
                "(credit_report.debt_to_income != null and credit_report.debt_to_income >= 0.7) or "
                "(customer.monthly_income != null and "
                "credit_report.other_banks.debt + card.balance > customer.monthly_income * 36)"),
    "UTL-001": ("card.utilization > 0.80", "card.utilization > 0.80"),
    "UTL-002": ("card.balance / card.limit > 1.05", "card.limit != 0 and card.balance / card.limit > 1.05"),
    "HUN-001": ("credit_report.other_banks.hard_inquiries_3m >= 4 or credit_report.other_banks.new_accounts_3m >= 2",
                "credit_report.other_banks.hard_inquiries_3m >= 4 or credit_report.other_banks.new_accounts_3m >= 2"),
    "HUN-002": ("credit_report.other_banks.hard_inquiries_6m >= 8",
                "credit_report.other_banks.hard_inquiries_6m >= 8"),
    "INC-001": ('customer.employment_status == "unemployed" or customer.income_change_pct <= -30',
                "customer.employment_status == 'unemployed' or "
                "(customer.income_change_pct != null and customer.income_change_pct <= -30)"),
    "INC-002": ("account_flows.salary_stopped", "account_flows.salary_stopped == true"),
    "LEG-001": ('any(j in outside_records.court_judgments: j.status == "open" and j.amount >= 5000)',
                "outside_records.court_judgments != null and "
                "some(outside_records.court_judgments, #.status == 'open' and #.amount >= 5000)"),
    "LEG-002": ("outside_records.enforcement_listed or outside_records.defaulter_listed",
                "outside_records.enforcement_listed == true or outside_records.defaulter_listed == true"),
    "LEG-003": ("outside_records.tax_arrears >= 10000 or outside_records.administrative_penalties >= 3",
                "(outside_records.tax_arrears != null and outside_records.tax_arrears >= 10000) or "
                "(outside_records.administrative_penalties != null and "
                "outside_records.administrative_penalties >= 3)"),
    "LEG-004": ('count(j in outside_records.court_judgments: j.status == "open") >= 3',
                "outside_records.court_judgments != null and "
                "count(outside_records.court_judgments, #.status == 'open') >= 3"),
    "CAP-001": ("account_flows.large_outgoing_transfers_3m > customer.monthly_income * 6",
                "account_flows.large_outgoing_transfers_3m != null and customer.monthly_income != null and "
                "account_flows.large_outgoing_transfers_3m > customer.monthly_income * 6"),
    "CAP-002": ("account_flows.balance_trend_pct <= -60 and account_flows.large_outgoing_transfers_3m >= 50000",
                "account_flows.balance_trend_pct != null and account_flows.large_outgoing_transfers_3m != null "
                "and account_flows.balance_trend_pct <= -60 and account_flows.large_outgoing_transfers_3m >= 50000"),
    "MPT-001": ("card.months_min_payment_only >= 6 and card.utilization >= 0.6",
                "card.months_min_payment_only >= 6 and card.utilization >= 0.6"),
    "CSH-001": ("card.cash_advance_share >= 0.5", "card.cash_advance_share >= 0.5"),
    "OWN-001": ("card.dpd >= 30", "card.dpd >= 30"),
    "OWN-002": ("card.dpd >= 90", "card.dpd >= 90"),
    "OWN-003": ("card.worst_dpd_12m >= 60 and not (card.dpd >= 30)",
                "card.worst_dpd_12m >= 60 and not (card.dpd >= 30)"),
    "RED-001": ("signal(severe_external_delinquency) or signal(severe_legal_risk) or signal(severe_own_delinquency)",
                "sig.severe_external_delinquency or sig.severe_legal_risk or sig.severe_own_delinquency"),
    "RED-002": ("signal(external_delinquency) and signal(income_shock) and signal(capital_outflow)",
                "sig.external_delinquency and sig.income_shock and sig.capital_outflow"),
    "RED-003": ("signal(own_delinquency) and signal(external_delinquency)",
                "sig.own_delinquency and sig.external_delinquency"),
    "ACT-010": ("signal(external_delinquency) and card.utilization > 0.80",
                "sig.external_delinquency and card.utilization > 0.80"),
    "ACT-011": ("signal(external_delinquency) and not signal(high_utilization)",
                "sig.external_delinquency and not sig.high_utilization"),
    "ACT-012": ("signal(severe_external_delinquency)", "sig.severe_external_delinquency"),
    "ACT-013": ("signal(over_indebtedness) and signal(credit_hunger)",
                "sig.over_indebtedness and sig.credit_hunger"),
    "ACT-014": ("signal(over_indebtedness) and not signal(credit_hunger)",
                "sig.over_indebtedness and not sig.credit_hunger"),
    "ACT-020": ("signal(high_utilization) and not signal(legal_risk) and not signal(external_delinquency)",
                "sig.high_utilization and not sig.legal_risk and not sig.external_delinquency"),
    "ACT-021": ("signal(high_utilization) and signal(legal_risk)", "sig.high_utilization and sig.legal_risk"),
    "ACT-022": ("signal(over_limit)", "sig.over_limit"),
    "ACT-030": ("signal(credit_hunger) and signal(high_utilization)", "sig.credit_hunger and sig.high_utilization"),
    "ACT-031": ("signal(credit_hunger) and customer.months_on_book < 12",
                "sig.credit_hunger and customer.months_on_book < 12"),
    "ACT-032": ("signal(credit_hunger) and not signal(high_utilization)",
                "sig.credit_hunger and not sig.high_utilization"),
    "ACT-040": ("signal(income_shock) and signal(high_utilization)", "sig.income_shock and sig.high_utilization"),
    "ACT-041": ("signal(income_shock) and not signal(high_utilization)",
                "sig.income_shock and not sig.high_utilization"),
    "ACT-042": ("missing(customer.monthly_income) and signal(high_utilization)",
                "customer.monthly_income == null and sig.high_utilization"),
    "ACT-050": ("signal(legal_risk)", "sig.legal_risk"),
    "ACT-051": ("signal(severe_legal_risk)", "sig.severe_legal_risk"),
    "ACT-060": ("signal(capital_outflow) and (signal(income_shock) or signal(external_delinquency))",
                "sig.capital_outflow and (sig.income_shock or sig.external_delinquency)"),
    "ACT-061": ("signal(capital_outflow)", "sig.capital_outflow"),
    "ACT-070": ("signal(minimum_payment_trap)", "sig.minimum_payment_trap"),
    "ACT-071": ("signal(minimum_payment_trap) and signal(cash_advance_reliance)",
                "sig.minimum_payment_trap and sig.cash_advance_reliance"),
    "ACT-080": ("signal(own_delinquency)", "sig.own_delinquency"),
    "ACT-081": ("signal(severe_own_delinquency)", "sig.severe_own_delinquency"),
    "ACT-083": ("signal(recent_own_delinquency)", "sig.recent_own_delinquency"),
    "ACT-090": ('signal(any_risk) and customer.segment in ["private_banking"]',
                "sig.any_risk and customer.segment in ['private_banking']"),
    "EXIT-001": ("signal(red_risk)", "sig.red_risk"),
    "DQ-001": ('credit_report.as_of < date("2025-10-01")', "date(credit_report.as_of) < date('2025-10-01')"),
    "MNT-001": ("not signal(any_risk)", "not sig.any_risk"),
}


def _node(nid: str, kind: str, content: dict | None = None) -> dict:
    node = {"id": nid, "type": kind, "name": nid, "position": {"x": 0, "y": 0}}
    if content is not None:
        node["content"] = content
    return node


def build_jdm(doc: dict) -> dict:
    """The ruleset as a JDM graph: input -> stage 0 table -> signals -> stage 1 table -> ...
    -> the combination of actions, level and review -> output.

    Stage of a rule: 0 when it reads no signal, else one more than the stage of every rule
    deriving a signal it reads (or negates), so a negated signal is final before it is read.
    Each table has hit policy "collect" and one row per rule; a row's outputs are the rule
    id, its signals, actions, action parameters, level and review (as indexes)."""
    _check_texts(doc, ZEN_CONDITIONS, "the zen-engine model")
    levels, freqs = list(doc["levels"]), list(doc["review_frequencies"])
    level_review = [freqs.index(doc["levels"][lv]["review"]) for lv in levels]
    catalogue = {name: body or {} for name, body in doc["actions"].items()}
    params = {}
    for name, body in catalogue.items():
        combine = body.get("combine", "once")
        m = re.fullmatch(r"max\((\w+)\)", combine)
        if m:
            params[name] = m.group(1)
        elif combine != "once" or body.get("params"):
            raise SystemExit(f"the zen-engine model encodes combine once and max(param) only, not {name}: {combine}")
    rules = sorted(doc["rules"], key=lambda r: (-r.get("priority", 0), r["id"]))
    derivers: dict[str, list[str]] = defaultdict(list)
    for r in rules:
        for s in r.get("signals") or ():
            derivers[s].append(r["id"])
    stages: dict[str, int] = {}

    def stage(rid: str) -> int:
        if rid not in stages:
            pos, neg = signal_refs(next(r["when"] for r in rules if r["id"] == rid))
            stages[rid] = 0 if not (pos | neg) else 1 + max(stage(x) for s in pos | neg for x in derivers[s])
        return stages[rid]

    n_stages = 1 + max(stage(r["id"]) for r in rules)
    outputs = [("rule", "rule"), ("sg", "signals"), ("act", "actions"), ("lv", "level"), ("rv", "review")]
    outputs += [(f"p_{a}", f"{a}.{p}") for a, p in params.items()]
    nodes, edges = [_node("request", "inputNode")], []
    previous = "request"

    def link(node: dict) -> None:
        nonlocal previous
        nodes.append(node)
        edges.append({"id": f"{previous}->{node['id']}", "type": "edge", "sourceId": previous,
                      "targetId": node["id"]})
        previous = node["id"]

    for k in range(n_stages):
        rows = []
        for r in rules:
            if stages[r["id"]] != k:
                continue
            acts, values = [], {a: 0 for a in params}
            for item in r.get("actions") or ():
                name, ps = (item, {}) if isinstance(item, str) else next(iter(item.items()))
                acts.append(name)
                if name in params:
                    values[name] = ps[params[name]]
            row = {"_id": r["id"], "_description": r.get("title", ""), "when": ZEN_CONDITIONS[r["id"]][1],
                   "rule": json.dumps(r["id"]), "sg": json.dumps(list(r.get("signals") or ())),
                   "act": json.dumps(acts), "lv": str(levels.index(r["level"]) if r.get("level") else 0),
                   "rv": str(freqs.index(r["review"]) if r.get("review") else 0)}
            row.update({f"p_{a}": str(v) for a, v in values.items()})
            rows.append(row)
        link(_node(f"stage{k}", "decisionTableNode", {
            "hitPolicy": "collect",
            "inputs": [{"id": "when", "name": "Condition", "field": ""}],
            "outputs": [{"id": oid, "name": name, "field": oid} for oid, name in outputs],
            "rules": rows, "passThrough": True, "inputField": None, "outputPath": f"t{k}",
            "executionMode": "single"}))
        made = sorted({s for r in rules if stages[r["id"]] == k for s in r.get("signals") or ()})
        if made and k < n_stages - 1:
            # the stage's signal list, then one boolean per signal for the next stages to read
            exprs = [(f"sg{k}", f"flatMap(t{k}, #.sg)")] + [(f"sig.{s}", f"contains($.sg{k}, '{s}')") for s in made]
            link(_node(f"signals{k}", "expressionNode", {
                "expressions": [{"id": f"e{k}_{i}", "key": key, "value": value}
                                for i, (key, value) in enumerate(exprs)],
                "passThrough": True, "inputField": None, "outputPath": None, "executionMode": "single"}))
    tables = ", ".join(f"t{k}" for k in range(n_stages))
    expressions = [
        ("all", f"flatMap([{tables}], #)"),
        ("acts", "flatMap($.all, #.act)"),
        ("fired", "map($.all, #.rule)"),
        ("level", "max(flatMap([[0], map($.all, #.lv)], #))"),
        ("review", f"max(flatMap([[{json.dumps(level_review)}[$.level]], map($.all, #.rv)], #))"),
    ]
    for name in catalogue:
        expressions.append((f"has.{name}", f"contains($.acts, '{name}')"))
    for name, body in catalogue.items():
        over = body.get("overridden_by") or ()
        kept = f"$.has.{name}" + "".join(f" and not $.has.{o}" for o in over)
        value = f"max(map($.all, #.p_{name}))" if name in params else "true"
        expressions.append((f"final.{name}", f"({kept}) ? {value} : false"))
    link(_node("combine", "expressionNode", {
        "expressions": [{"id": f"c{i}", "key": key, "value": value} for i, (key, value) in enumerate(expressions)],
        "passThrough": False, "inputField": None, "outputPath": None, "executionMode": "single"}))
    link(_node("response", "outputNode"))
    return {"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges}


def zen_input(d: Any) -> Any:
    """A validated snapshot as zen's input: decimals as numbers (exact: at most 15
    significant digits, and zen reads them back as decimals), dates as ISO text."""
    if isinstance(d, dict):
        return {k: zen_input(v) for k, v in d.items()}
    if isinstance(d, list):
        return [zen_input(v) for v in d]
    if isinstance(d, Decimal):
        return float(d)
    if isinstance(d, _dt.date):
        return d.isoformat()
    return d


class Zen:
    def __init__(self, doc: dict):
        import zen
        self.version = _dist_version("zen-engine")
        self.jdm = build_jdm(doc)
        self.engine = zen.ZenEngine()
        self.decision = self.engine.create_decision(json.dumps(self.jdm))
        self.levels, self.freqs = list(doc["levels"]), list(doc["review_frequencies"])
        self.params = {}
        for name, body in doc["actions"].items():
            m = re.fullmatch(r"max\((\w+)\)", (body or {}).get("combine", "once"))
            if m:
                self.params[name] = m.group(1)
        self.tables = sum(1 for n in self.jdm["nodes"] if n["type"] == "decisionTableNode")

    def inside_us(self, inputs: list) -> float:
        """Mean time zen reports for the graph itself (its "performance" field), in us."""
        unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
        total = 0.0
        for x in inputs:
            text = self.decision.evaluate(x)["performance"]
            m = re.fullmatch(r"([0-9.]+)\s*([a-zµ]+)", text)
            total += float(m.group(1)) * unit.get(m.group(2), float("nan"))
        return total / max(len(inputs), 1)

    def empty_graph_rate(self, inputs: list) -> float:
        """Calls per second of an input -> output graph: the cost of a call itself."""
        empty = {"contentType": "application/vnd.gorules.decision",
                 "nodes": [_node("request", "inputNode"), _node("response", "outputNode")],
                 "edges": [{"id": "e", "type": "edge", "sourceId": "request", "targetId": "response"}]}
        decision = self.engine.create_decision(json.dumps(empty))
        return max(rate_pass(decision.evaluate, inputs) for _ in range(3))

    def outcome(self, response: dict) -> Outcome:
        r = response["result"]
        actions = []
        for name, value in r["final"].items():
            if value is False:
                continue
            actions.append((name, ((self.params[name], int(value)),) if name in self.params else ()))
        return Outcome(tuple(r["fired"]), tuple(sorted(actions)), self.levels[int(r["level"])],
                       self.freqs[int(r["review"])])


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # pragma: no cover
        return "?"


# =========================================================================================
# Checking
# =========================================================================================

class Setup(NamedTuple):
    ruleset: Any
    doc: dict
    floor: Floor
    zen: Zen | None


def setup(with_zen: bool = True) -> Setup:
    library = load_library(ROOT / "rulesets", ROOT / "schemas")
    ruleset = library.ruleset(RULESET_ID)
    doc = read_yaml(ROOT / "rulesets" / f"{RULESET_ID}.yaml")
    ruleset.warm()
    return Setup(ruleset, doc, Floor(doc), Zen(doc) if with_zen else None)


def validate_all(ruleset, raw: list[dict]) -> list[dict]:
    return [ruleset.contract.validate(s) for s in raw]


class CheckReport(NamedTuple):
    n: int
    floor: Counter          # kind of mismatch -> count (floor vs engine)
    zen: Counter            # kind of mismatch -> count (zen vs engine)
    floor_order: int        # same rules, different firing order (information only)
    examples: list          # (index, who, kind, engine value, other value)
    levels: Counter
    any_risk: int
    fired_total: int
    fired_max: int
    rules_seen: set


def compare(engine: Outcome, other: Outcome) -> list[tuple[str, Any, Any]]:
    """The ways ``other`` differs from the engine: fired set, final actions, level, review."""
    out = []
    if set(engine.fired) != set(other.fired):
        out.append(("fired", sorted(engine.fired), sorted(other.fired)))
    for kind in ("actions", "level", "review"):
        if getattr(engine, kind) != getattr(other, kind):
            out.append((kind, getattr(engine, kind), getattr(other, kind)))
    return out


def check(st: Setup, validated: list[dict], zen_inputs: list | None = None, max_examples: int = 8) -> CheckReport:
    """Run all three on every snapshot; count snapshots that differ, per kind of difference."""
    floor_bad, zen_bad = Counter(), Counter()
    examples, levels = [], Counter()
    order = any_risk = fired_total = fired_max = 0
    seen: set = set()
    for i, d in enumerate(validated):
        ev = st.ruleset.run(d, explain="summary")
        eng = engine_outcome(ev)
        levels[eng.level] += 1
        any_risk += "any_risk" in ev.signals
        fired_total += len(eng.fired)
        fired_max = max(fired_max, len(eng.fired))
        seen.update(eng.fired)
        fl = st.floor.evaluate(d)
        diffs = compare(eng, fl)
        for kind, a, b in diffs:
            floor_bad[kind] += 1
            if len(examples) < max_examples:
                examples.append((i, "floor", kind, a, b))
        if not diffs and eng.fired != fl.fired:
            order += 1
            if len(examples) < max_examples:
                examples.append((i, "floor", "order (info)", eng.fired, fl.fired))
        floor_bad["any"] += bool(diffs)
        if st.zen is not None:
            zo = st.zen.outcome(st.zen.decision.evaluate(zen_inputs[i] if zen_inputs else zen_input(d)))
            diffs = compare(eng, zo)
            for kind, a, b in diffs:
                zen_bad[kind] += 1
                if len(examples) < max_examples:
                    examples.append((i, "zen", kind, a, b))
            zen_bad["any"] += bool(diffs)
    return CheckReport(len(validated), floor_bad, zen_bad, order, examples, levels, any_risk, fired_total,
                       fired_max, seen)


# =========================================================================================
# Timing
# =========================================================================================

def rate_pass(fn: Callable, items: list) -> float:
    t0 = time.perf_counter()
    for x in items:
        fn(x)
    return len(items) / (time.perf_counter() - t0)


class Phases:
    """Exclusive time per wrapped function (time inside it minus time in wrapped callees)."""

    def __init__(self):
        self.excl: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[int] = []
        self._restore: list[tuple[Any, str, Any]] = []

    def wrap(self, name: str, fn: Callable) -> Callable:
        clock, stack, excl, calls = time.perf_counter_ns, self._stack, self.excl, self.calls

        def timed(*args, **kwargs):
            t0 = clock()
            stack.append(0)
            try:
                return fn(*args, **kwargs)
            finally:
                dt = clock() - t0
                inner = stack.pop()
                excl[name] += dt - inner
                calls[name] += 1
                if stack:
                    stack[-1] += dt
        return timed

    def patch(self, owner: Any, attr: str, name: str, replacement: Any = None) -> None:
        """Replace ``owner.attr`` (a module, class or instance attribute) until ``undo``."""
        own = vars(owner)
        self._restore.append((owner, attr, own[attr] if attr in own else _ABSENT))
        setattr(owner, attr, replacement if replacement is not None else self.wrap(name, getattr(owner, attr)))

    def undo(self) -> None:
        for owner, attr, original in reversed(self._restore):
            if original is _ABSENT:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
        self._restore.clear()


_ABSENT = object()


class _Proxy:
    """A module stand-in whose listed functions are timed."""

    def __init__(self, module, phases: Phases, names: dict[str, str]):
        self._module = module
        for attr, label in names.items():
            setattr(self, attr, phases.wrap(label, getattr(module, attr)))

    def __getattr__(self, attr):
        return getattr(self._module, attr)


# phase label -> the group it is reported under
PHASE_GROUPS = [
    ("build the fact", ["build fact (paths, atoms)", "encode fact (json.dumps)"]),
    ("durable_rules C calls", ["C assert_fact", "C start_action", "C complete_and_start_action", "C delete_state"]),
    ("session wrapper (lock, parse names)", ["session enter/exit", "session assert_fact+drain", "session end"]),
    ("agenda (run's own loop: heap, strata)", ["run: agenda"]),
    ("result and trail", ["result: values read", "result: combine actions", "result: reason sentences",
                          "result: firings, level, review"]),
]


def profile_engine(ruleset, validated: list[dict]) -> tuple[Phases, float]:
    """Time the engine's phases by wrapping its functions from outside (app/engine untouched)."""
    import app.engine.ruleset as rs_mod
    import app.engine.runtime as rt_mod

    ph = Phases()
    ph.patch(ruleset, "_build_fact", "build fact (paths, atoms)")
    ph.patch(ruleset, "_result", "result: firings, level, review")
    ph.patch(ruleset, "_combine", "result: combine actions")
    ph.patch(ruleset, "_reason", "result: reason sentences")
    ph.patch(rs_mod, "values_read", "result: values read")
    ph.patch(rs_mod, "json", "", _Proxy(rs_mod.json, ph, {"dumps": "encode fact (json.dumps)"}))
    ph.patch(rt_mod, "_dr", "", _Proxy(rt_mod._dr, ph, {
        "assert_fact": "C assert_fact", "start_action": "C start_action",
        "complete_and_start_action": "C complete_and_start_action", "delete_state": "C delete_state"}))
    ph.patch(rt_mod.Session, "__enter__", "session enter/exit")
    ph.patch(rt_mod.Session, "__exit__", "session enter/exit")
    ph.patch(rt_mod.Session, "assert_fact", "session assert_fact+drain")
    ph.patch(rt_mod.Session, "end", "session end")
    run = ph.wrap("run: agenda", ruleset.run)
    try:
        t0 = time.perf_counter()
        for d in validated:
            run(d, explain="summary")
        rate = len(validated) / (time.perf_counter() - t0)
    finally:
        ph.undo()
    return ph, rate


def rss_kib() -> int:
    """Current resident set size (VmRSS), in KiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# =========================================================================================
# Main
# =========================================================================================

def _load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def _fmt_rate(r: float) -> str:
    return f"{r:>10,.0f} /s  {1e6 / r:>8.1f} us/eval"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="snapshots generated (default 10000)")
    ap.add_argument("--memory", type=int, default=100000, metavar="N",
                    help="evaluations in the memory loop, cycling through the snapshots (default 100000; 0 skips)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the snapshot generator (default 7)")
    ap.add_argument("--passes", type=int, default=3, help="timed passes; the best one counts (default 3)")
    ap.add_argument("--profile-n", type=int, default=3000, help="snapshots in the instrumented pass (default 3000)")
    ap.add_argument("--cprofile", action="store_true", help="also print cProfile's top functions for the engine")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    out = print

    st = setup()
    rs = st.ruleset
    out(f"Vigil engine benchmark: {rs.key} ({len(rs.rules)} rules), {args.n:,} snapshots, seed {args.seed}; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_', 'unset')}, load average {_load()}")
    rss_start = rss_kib()

    raw = generate(args.n, args.seed)
    t0 = time.perf_counter()
    validated = validate_all(rs, raw)
    first_validation = args.n / (time.perf_counter() - t0)
    zen_inputs = [zen_input(d) for d in validated]

    missing = Counter()
    judgments = Counter()
    for s in raw:
        missing["customer.monthly_income"] += "monthly_income" not in s["customer"]
        missing["outside_records"] += "outside_records" not in s
        missing["account_flows"] += "account_flows" not in s
        missing["credit_report.debt_to_income"] += "debt_to_income" not in s["credit_report"]
        cj = s.get("outside_records", {}).get("court_judgments")
        judgments["absent" if cj is None else min(len(cj), 4)] += 1

    # -- check ---------------------------------------------------------------------------
    rep = check(st, validated, zen_inputs)
    n = args.n
    pct = lambda k: f"{100 * k / n:.1f}%"  # noqa: E731
    out("")
    out("snapshots")
    out(f"  levels (engine)         " + ", ".join(f"{lv} {pct(rep.levels[lv])}" for lv in rs.levels))
    out(f"  any risk signal         {pct(rep.any_risk)}; rules fired per snapshot: mean "
        f"{rep.fired_total / n:.2f}, max {rep.fired_max}; rules ever fired {len(rep.rules_seen)}/{len(rs.rules)}")
    out("  left out               " + ", ".join(f"{k} {pct(v)}" for k, v in missing.items()))
    out("  court judgments        " + ", ".join(f"{k if k != 4 else '4+'}: {pct(judgments[k])}"
                                              for k in ["absent", 0, 1, 2, 3, 4]))
    out("")
    out(f"check before timing ({n:,} snapshots; snapshots that differ from the engine)")
    f, z = rep.floor, rep.zen
    out(f"  floor vs engine         fired set {f['fired']}, actions {f['actions']}, level {f['level']}, "
        f"review {f['review']}  -> mismatches {f['any']}   (same rules in another order: {rep.floor_order})")
    out(f"  zen   vs engine         fired set {z['fired']}, actions {z['actions']}, level {z['level']}, "
        f"review {z['review']}  -> mismatches {z['any']}")
    for i, who, kind, a, b in rep.examples:
        out(f"    #{i} {who} {kind}: engine {a} / {who} {b}")
    never = sorted(r.id for r in rs.rules if r.id not in rep.rules_seen)
    if never:
        out(f"  never fired on these snapshots: {', '.join(never)}")

    # -- rates ---------------------------------------------------------------------------
    floor_eval, zen_eval, engine_run = st.floor.evaluate, st.zen.decision.evaluate, rs.run
    rates: dict[str, list[float]] = defaultdict(list)
    rates["validate"].append(first_validation)
    for _ in range(args.passes):
        gc.collect()
        rates["validate"].append(rate_pass(rs.contract.validate, raw))
        rates["floor"].append(rate_pass(floor_eval, validated))
        rates["zen"].append(rate_pass(zen_eval, zen_inputs))
        rates["engine"].append(rate_pass(partial(engine_run, explain="summary"), validated))
    best = {k: max(v) for k, v in rates.items()}
    spread = {k: f"passes {' / '.join(f'{r:,.0f}' for r in v)}" for k, v in rates.items()}
    zen_inside, zen_empty = st.zen.inside_us(zen_inputs[:2000]), st.zen.empty_graph_rate(zen_inputs[:2000])
    out("")
    out(f"rates (evaluations per second, best of {args.passes} interleaved passes over {n:,} snapshots)")
    out(f"  validation only         {_fmt_rate(best['validate'])}   contract.validate, not in the rates below; "
        f"{spread['validate']}")
    out(f"  (a) floor               {_fmt_rate(best['floor'])}   hand-written Python, same chaining and combine; "
        f"{spread['floor']}")
    out(f"  (b) zen-engine {st.zen.version:<8} {_fmt_rate(best['zen'])}   JDM: {st.zen.tables} collect tables "
        f"+ expression nodes, dict in and out; {spread['zen']}")
    out(f"        of which inside zen's graph (its 'performance' timer) {zen_inside:.1f} us/eval; an empty "
        f"input->output graph runs at {zen_empty:,.0f}/s ({1e6 / zen_empty:.0f} us per call)")
    out(f"  Vigil engine            {_fmt_rate(best['engine'])}   run(validated, explain='summary'); "
        f"{spread['engine']}")
    out(f"  ratio engine/zen        {best['engine'] / best['zen']:10.2f}   (above 1: the engine is faster)")
    out(f"  ratio engine/floor      {best['engine'] / best['floor']:10.3f}   (the floor is "
        f"{best['floor'] / best['engine']:.1f}x faster than the engine)")

    # -- where the time goes -------------------------------------------------------------
    sample = validated[: min(args.profile_n, n)]
    profiles = [profile_engine(rs, sample) for _ in range(args.passes)]
    ph, instrumented = min(profiles, key=lambda p: sum(p[0].excl.values()))     # the least disturbed pass
    total = sum(ph.excl.values())
    per = lambda ns: ns / len(sample) / 1000  # noqa: E731
    out("")
    out(f"where the engine's time goes ({len(sample):,} snapshots, best of {len(profiles)} instrumented passes, "
        f"functions wrapped from outside; instrumented {instrumented:,.0f}/s vs {best['engine']:,.0f}/s plain)")
    for group, labels in PHASE_GROUPS:
        g = sum(ph.excl[label] for label in labels)
        out(f"  {group:<38} {per(g):7.1f} us  {100 * g / total:5.1f}%")
        for label in labels:
            if len(labels) > 1 and ph.calls[label]:
                out(f"    {label:<36} {per(ph.excl[label]):7.1f} us  {100 * ph.excl[label] / total:5.1f}%  "
                    f"({ph.calls[label] / len(sample):.1f} calls/eval)")
    out(f"  {'total':<38} {per(total):7.1f} us")
    if args.cprofile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        for d in sample:
            rs.run(d, explain="summary")
        prof.disable()
        out("")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)

    # -- memory --------------------------------------------------------------------------
    out("")
    if args.memory > 0:
        gc.collect()
        before = rss_kib()
        out(f"memory: {args.memory:,} evaluations cycling through the {n:,} snapshots "
            f"(RSS at start of the script {rss_start / 1024:.1f} MiB)")
        out(f"  {'evaluations':>12}  {'RSS MiB':>8}  {'evals/s':>8}")
        out(f"  {0:>12,}  {before / 1024:8.1f}")
        step = max(1, args.memory // 10)
        t0 = time.perf_counter()
        tick = t0
        for i in range(args.memory):
            rs.run(validated[i % n], explain="summary")
            if (i + 1) % step == 0 or i + 1 == args.memory:
                now = time.perf_counter()
                done = (i + 1) % step or step
                out(f"  {i + 1:>12,}  {rss_kib() / 1024:8.1f}  {done / (now - tick):8,.0f}")
                tick = now
        after = rss_kib()
        out(f"  RSS before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB "
            f"({(after - before) / 1024:+.1f} MiB); peak RSS (ru_maxrss) {maxrss_kib() / 1024:.1f} MiB; "
            f"handles created {rs._matcher.handles_created}, abandoned {rs._matcher.handles_abandoned}")
    else:
        out(f"memory: loop skipped (--memory 0); peak RSS (ru_maxrss) {maxrss_kib() / 1024:.1f} MiB")
    out(f"\ntotal run time {time.perf_counter() - started:.0f} s; load average now {_load()}")
    return 0 if rep.floor["any"] == 0 and rep.zen["any"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
