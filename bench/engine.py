"""Benchmark of the Vigil engine on the shipped retail card ruleset, against zen-engine
and a straight-line Python floor.

Contenders, all on the same generated snapshots:

* the Vigil engine: ``ruleset.evaluate(snapshot)`` - contract validation, the rules in
  durable_rules and the result with its trail (``run(validated)`` without validation on
  a line of its own);
* zen-engine (GoRules), the way its users call it: a ``ZenEngine`` whose loader returns
  the decision content, then ``engine.evaluate(key, context)``, with and without trace;
  the same rules as a JDM graph, one "collect" decision table per chaining stage;
* the floor: the same rules as straight-line Python ``if`` statements over the
  validated snapshot.

Before anything is timed, every contender's result on every snapshot (fired rules, final
actions with parameters, level, review) is checked equal to the engine's; a difference
stops the run. Ratios are paired: in each pass every contender runs the same block of
snapshots back to back, in an order that rotates from pass to pass, and a ratio is the
median of the per-pass ratios (with their min and max), each pass timed by the CPU time of
this process (``--clock wall`` for wall-clock time).

    python bench/engine.py [--n 10000] [--block 500] [--rounds 2] [--memory 100000]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import statistics
import json
import os
import random
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
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
# Outcomes, as compared between the contenders
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
# The floor: the same rules as straight-line Python over the validated snapshot
# =========================================================================================

D = Decimal
CUTOFF_DQ = _dt.date(2025, 10, 1)
D0_5, D0_6, D0_7, D0_80, D1_05 = D("0.5"), D("0.6"), D("0.7"), D("0.80"), D("1.05")
D2, D10, D100 = D(2), D(10), D(100)

# The condition each rule of the floor is written for. The floor below is plain code and
# cannot read these; they are compared with the ruleset's own text at start, so that a
# changed ruleset stops the benchmark instead of timing a floor that no longer matches.
FLOOR_WHEN: dict[str, str] = {
    "EXT-001": "credit_report.other_banks.overdue_accounts_6m >= 2",
    "EXT-002": "credit_report.other_banks.overdue_accounts_12m >= 3",
    "EXT-003": "credit_report.other_banks.worst_dpd >= 90",
    "EXT-004": "credit_report.debt_to_income >= 0.7 "
               "or credit_report.other_banks.debt + card.balance > customer.monthly_income * 36",
    "UTL-001": "card.utilization > 0.80",
    "UTL-002": "card.balance / card.limit > 1.05",
    "HUN-001": "credit_report.other_banks.hard_inquiries_3m >= 4 or credit_report.other_banks.new_accounts_3m >= 2",
    "HUN-002": "credit_report.other_banks.hard_inquiries_6m >= 8",
    "INC-001": 'customer.employment_status == "unemployed" or customer.income_change_pct <= -30',
    "INC-002": "account_flows.salary_stopped",
    "LEG-001": 'any(j in outside_records.court_judgments: j.status == "open" and j.amount >= 5000)',
    "LEG-002": "outside_records.enforcement_listed or outside_records.defaulter_listed",
    "LEG-003": "outside_records.tax_arrears >= 10000 or outside_records.administrative_penalties >= 3",
    "LEG-004": 'count(j in outside_records.court_judgments: j.status == "open") >= 3',
    "CAP-001": "account_flows.large_outgoing_transfers_3m > customer.monthly_income * 6",
    "CAP-002": "account_flows.balance_trend_pct <= -60 and account_flows.large_outgoing_transfers_3m >= 50000",
    "MPT-001": "card.months_min_payment_only >= 6 and card.utilization >= 0.6",
    "CSH-001": "card.cash_advance_share >= 0.5",
    "OWN-001": "card.dpd >= 30",
    "OWN-002": "card.dpd >= 90",
    "OWN-003": "card.worst_dpd_12m >= 60 and not (card.dpd >= 30)",
    "RED-001": "signal(severe_external_delinquency) or signal(severe_legal_risk) or signal(severe_own_delinquency)",
    "RED-002": "signal(external_delinquency) and signal(income_shock) and signal(capital_outflow)",
    "RED-003": "signal(own_delinquency) and signal(external_delinquency)",
    "ACT-010": "signal(external_delinquency) and card.utilization > 0.80",
    "ACT-011": "signal(external_delinquency) and not signal(high_utilization)",
    "ACT-012": "signal(severe_external_delinquency)",
    "ACT-013": "signal(over_indebtedness) and signal(credit_hunger)",
    "ACT-014": "signal(over_indebtedness) and not signal(credit_hunger)",
    "ACT-020": "signal(high_utilization) and not signal(legal_risk) and not signal(external_delinquency)",
    "ACT-021": "signal(high_utilization) and signal(legal_risk)",
    "ACT-022": "signal(over_limit)",
    "ACT-030": "signal(credit_hunger) and signal(high_utilization)",
    "ACT-031": "signal(credit_hunger) and customer.months_on_book < 12",
    "ACT-032": "signal(credit_hunger) and not signal(high_utilization)",
    "ACT-040": "signal(income_shock) and signal(high_utilization)",
    "ACT-041": "signal(income_shock) and not signal(high_utilization)",
    "ACT-042": "missing(customer.monthly_income) and signal(high_utilization)",
    "ACT-050": "signal(legal_risk)",
    "ACT-051": "signal(severe_legal_risk)",
    "ACT-060": "signal(capital_outflow) and (signal(income_shock) or signal(external_delinquency))",
    "ACT-061": "signal(capital_outflow)",
    "ACT-070": "signal(minimum_payment_trap)",
    "ACT-071": "signal(minimum_payment_trap) and signal(cash_advance_reliance)",
    "ACT-080": "signal(own_delinquency)",
    "ACT-081": "signal(severe_own_delinquency)",
    "ACT-083": "signal(recent_own_delinquency)",
    "ACT-090": 'signal(any_risk) and customer.segment in ["private_banking"]',
    "EXIT-001": "signal(red_risk)",
    "DQ-001": 'credit_report.as_of < date("2025-10-01")',
    "MNT-001": "not signal(any_risk)",
    "PLS-001": "data_issue(card.utilization)",
    "PLS-002": "data_issue(credit_report.debt_to_income)",
    "PLS-003": "data_issue(customer.monthly_income)",
    "PLS-010": "signal(data_quality_issue)",
}

LEVELS = ("green", "yellow", "orange", "red")
REVIEWS = ("annual", "semiannual", "quarterly", "monthly")
_EMPTY: dict = {}


def floor(d: dict) -> tuple:
    """The retail card rules as a programmer would write them by hand: straight-line
    ``if`` statements over the validated snapshot, signals as local booleans, rules in
    the order the engine fires them (priority, then id). A missing optional value makes
    a comparison unknown, and an unknown condition does not fire: every optional read is
    guarded. Returns (fired rule ids, {final action: params}, level, review)."""
    customer, card, report = d["customer"], d["card"], d["credit_report"]
    other = report["other_banks"]
    records = d.get("outside_records", _EMPTY)
    flows = d.get("account_flows", _EMPTY)
    income = customer.get("monthly_income")
    utilization = card["utilization"]
    fired = []
    add = fired.append
    ext = sev_ext = over_ind = high_util = over_limit = hunger = shock = legal = sev_legal = False
    outflow = trap = cash = own = sev_own = recent_own = dq = False

    # section 4: signals (priority 100, in id order)
    out = flows.get("large_outgoing_transfers_3m")
    if out is not None and income is not None and out > income * 6:
        add("CAP-001"); outflow = True
    trend = flows.get("balance_trend_pct")
    if trend is not None and out is not None and trend <= -60 and out >= 50000:
        add("CAP-002"); outflow = True
    if card["cash_advance_share"] >= D0_5:
        add("CSH-001"); cash = True
    if other["overdue_accounts_6m"] >= 2:
        add("EXT-001"); ext = True
    if other["overdue_accounts_12m"] >= 3:
        add("EXT-002"); ext = True
    if other["worst_dpd"] >= 90:
        add("EXT-003"); sev_ext = True
    dti = report.get("debt_to_income")
    if (dti is not None and dti >= D0_7) or (income is not None and other["debt"] + card["balance"] > income * 36):
        add("EXT-004"); over_ind = True
    if other["hard_inquiries_3m"] >= 4 or other["new_accounts_3m"] >= 2:
        add("HUN-001"); hunger = True
    if other["hard_inquiries_6m"] >= 8:
        add("HUN-002"); hunger = True
    change = customer.get("income_change_pct")
    if customer.get("employment_status") == "unemployed" or (change is not None and change <= -30):
        add("INC-001"); shock = True
    if flows.get("salary_stopped"):
        add("INC-002"); shock = True
    judgments = records.get("court_judgments")
    if judgments and any(j["status"] == "open" and j["amount"] >= 5000 for j in judgments):
        add("LEG-001"); legal = True
    if records.get("enforcement_listed") or records.get("defaulter_listed"):
        add("LEG-002"); legal = sev_legal = True
    tax, penalties = records.get("tax_arrears"), records.get("administrative_penalties")
    if (tax is not None and tax >= 10000) or (penalties is not None and penalties >= 3):
        add("LEG-003"); legal = True
    if judgments and sum(j["status"] == "open" for j in judgments) >= 3:
        add("LEG-004"); legal = sev_legal = True
    if card["months_min_payment_only"] >= 6 and utilization >= D0_6:
        add("MPT-001"); trap = True
    dpd = card["dpd"]
    if dpd >= 30:
        add("OWN-001"); own = True
    if dpd >= 90:
        add("OWN-002"); sev_own = True
    if card["worst_dpd_12m"] >= 60 and not dpd >= 30:
        add("OWN-003"); recent_own = True
    # The plausibility checks of contract retail_card@2. The generated snapshots are all
    # plausible, so no rule here reads an implausible value as missing (the engine does);
    # the check that the floor agrees with the engine would show it if one were not.
    if utilization > D2:
        add("PLS-001"); dq = True
    if dti is not None and dti > D10:
        add("PLS-002"); dq = True
    if income is not None and income < D100:
        add("PLS-003"); dq = True
    if utilization > D0_80:
        add("UTL-001"); high_util = True
    limit = card["limit"]
    if limit and card["balance"] / limit > D1_05:
        add("UTL-002"); over_limit = True
    any_risk = (ext or sev_ext or over_ind or high_util or over_limit or hunger or shock or legal or sev_legal
                or outflow or trap or own or sev_own or recent_own)

    # section 6.1: red level (priority 80)
    level = review = percent = 0
    red = watchlist = contact = freeze = collections = plan_exit = more_reviews = False
    if sev_ext or sev_legal or sev_own:
        add("RED-001"); red = True; level = 3
    if ext and shock and outflow:
        add("RED-002"); red = freeze = True; level = 3
    if own and ext:
        add("RED-003"); red = freeze = True; level = 3

    # section 5: actions (priority 50)
    if ext and utilization > D0_80:
        add("ACT-010"); level = max(level, 2); review = 3; percent = max(percent, 30); contact = True
    if ext and not high_util:
        add("ACT-011"); level = max(level, 1); watchlist = contact = True
    if sev_ext:
        add("ACT-012"); level = 3; freeze = True
    if over_ind and hunger:
        add("ACT-013"); level = max(level, 2); percent = max(percent, 20)
    if over_ind and not hunger:
        add("ACT-014"); level = max(level, 1); watchlist = True
    if high_util and not legal and not ext:
        add("ACT-020"); level = max(level, 1); watchlist = True
    if high_util and legal:
        add("ACT-021"); level = max(level, 2); percent = max(percent, 40)
    if over_limit:
        add("ACT-022"); level = max(level, 1); contact = True
    if hunger and high_util:
        add("ACT-030"); level = max(level, 2); percent = max(percent, 20); contact = True
    if hunger and customer["months_on_book"] < 12:
        add("ACT-031"); level = max(level, 1); review = 3; watchlist = True
    if hunger and not high_util:
        add("ACT-032"); review = max(review, 1); more_reviews = True
    if shock and high_util:
        add("ACT-040"); level = max(level, 2); percent = max(percent, 25); contact = True
    if shock and not high_util:
        add("ACT-041"); level = max(level, 1); contact = True
    if income is None and high_util:
        add("ACT-042"); review = max(review, 2); contact = True
    if legal:
        add("ACT-050"); level = max(level, 2); watchlist = contact = True
    if sev_legal:
        add("ACT-051"); level = 3; freeze = True
    if outflow and (shock or ext):
        add("ACT-060"); level = max(level, 2); percent = max(percent, 50); contact = True
    if outflow:
        add("ACT-061"); level = max(level, 1); watchlist = True
    if trap:
        add("ACT-070"); level = max(level, 1); contact = more_reviews = True
    if trap and cash:
        add("ACT-071"); level = max(level, 2); percent = max(percent, 30)
    if own:
        add("ACT-080"); level = max(level, 2); contact = True
    if sev_own:
        add("ACT-081"); level = 3; freeze = collections = True
    if recent_own:
        add("ACT-083"); level = max(level, 1); watchlist = True
    if any_risk and customer["segment"] == "private_banking":
        add("ACT-090"); contact = True
    verify = dq
    if verify:
        add("PLS-010"); review = 3

    # sections 6.2 and 7 (priorities 20, 10, 0)
    if red:
        add("EXIT-001"); level = 3; review = 3; plan_exit = True
    if report["as_of"] < CUTOFF_DQ:
        add("DQ-001"); review = max(review, 2); more_reviews = True
    maintain = not any_risk
    if maintain:
        add("MNT-001")

    # combination: reduce_limit keeps the largest percent and gives way to freeze_card;
    # maintain gives way to any of the actions that override it
    actions = {}
    if percent and not freeze:
        actions["reduce_limit"] = {"percent": percent}
    for name, on in (("watchlist", watchlist), ("contact_customer", contact), ("freeze_card", freeze),
                     ("refer_to_collections", collections), ("plan_exit", plan_exit),
                     ("increase_review_frequency", more_reviews), ("verify_data", verify)):
        if on:
            actions[name] = _EMPTY
    if maintain and not (verify or watchlist or contact or percent or freeze or collections or plan_exit):
        actions["maintain"] = _EMPTY
    review = max(review, (0, 2, 3, 3)[level])
    return fired, actions, LEVELS[level], REVIEWS[review]


def floor_outcome(result: tuple) -> Outcome:
    fired, actions, level, review = result
    return Outcome(tuple(fired), tuple(sorted((a, tuple(sorted(p.items()))) for a, p in actions.items())),
                   level, review)


_SIGNAL_RE = re.compile(r"(not\s+)?signal\((\w+)\)")


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def signal_refs(when: str) -> tuple[frozenset, frozenset]:
    """(signals read positively, signals read under ``not``) of a condition text."""
    pos, neg = set(), set()
    for m in _SIGNAL_RE.finditer(when):
        (neg if m.group(1) else pos).add(m.group(2))
    return frozenset(pos), frozenset(neg)


def check_texts(doc: dict, conditions: dict, who: str) -> None:
    """Stop unless ``conditions`` (rule id -> condition text, or (text, ...)) covers exactly
    the ruleset's rules with the same condition texts."""
    ids = [r["id"] for r in doc["rules"]]
    texts = {k: v[0] if isinstance(v, tuple) else v for k, v in conditions.items()}
    missing, extra = sorted(set(ids) - set(texts)), sorted(set(texts) - set(ids))
    changed = [r["id"] for r in doc["rules"] if r["id"] in texts and _normal(texts[r["id"]]) != _normal(r["when"])]
    if missing or extra or changed:
        raise SystemExit(f"{who} is out of date with rulesets/{RULESET_ID}.yaml: missing {missing}, "
                         f"extra {extra}, changed conditions {changed}; update bench/engine.py")


# =========================================================================================
# The peer: zen-engine (GoRules JDM)
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
    "PLS-001": ("data_issue(card.utilization)", "card.utilization > 2"),
    "PLS-002": ("data_issue(credit_report.debt_to_income)",
                "credit_report.debt_to_income != null and credit_report.debt_to_income > 10"),
    "PLS-003": ("data_issue(customer.monthly_income)",
                "customer.monthly_income != null and customer.monthly_income < 100"),
    "PLS-010": ("signal(data_quality_issue)", "sig.data_quality_issue"),
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
    check_texts(doc, ZEN_CONDITIONS, "the zen-engine model")
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


EMPTY_JDM = {"contentType": "application/vnd.gorules.decision",
             "nodes": [_node("request", "inputNode"), _node("response", "outputNode")],
             "edges": [{"id": "e", "type": "edge", "sourceId": "request", "targetId": "response"}]}


class Zen:
    """The JDM graph in zen-engine, the way its users call it: a ``ZenEngine`` whose loader
    returns the decision content, parsed once, then ``engine.evaluate(key, context)``.
    ``slow`` is ``ZenEngine().create_decision(json).evaluate(context)``, which in 2.1.3
    starts threads and touches the file system on every call."""

    KEY = f"{RULESET_ID}.json"

    def __init__(self, doc: dict):
        import zen
        self.version = _dist_version("zen-engine")
        self.jdm = build_jdm(doc)
        self.tables = sum(1 for n in self.jdm["nodes"] if n["type"] == "decisionTableNode")
        contents = {self.KEY: zen.ZenDecisionContent(json.dumps(self.jdm)),
                    "empty.json": zen.ZenDecisionContent(json.dumps(EMPTY_JDM))}
        self.engine = zen.ZenEngine({"loader": contents.__getitem__})
        self.slow = zen.ZenEngine().create_decision(json.dumps(self.jdm))
        self.slow_empty = zen.ZenEngine().create_decision(json.dumps(EMPTY_JDM))
        self.levels, self.freqs = list(doc["levels"]), list(doc["review_frequencies"])
        self.params = {}
        for name, body in doc["actions"].items():
            m = re.fullmatch(r"max\((\w+)\)", (body or {}).get("combine", "once"))
            if m:
                self.params[name] = m.group(1)

    def evaluate(self, context: dict, trace: bool = False) -> dict:
        return self.engine.evaluate(self.KEY, context, {"trace": True} if trace else None)

    def outcome(self, response: dict) -> Outcome:
        r = response["result"]
        actions = []
        for name, value in r["final"].items():
            if value is False:
                continue
            actions.append((name, ((self.params[name], int(value)),) if name in self.params else ()))
        return Outcome(tuple(r["fired"]), tuple(sorted(actions)), self.levels[int(r["level"])],
                       self.freqs[int(r["review"])])

    def empty_rates(self, context: dict, n: int = 3000) -> tuple[float, float]:
        """Calls per second of an input -> output graph, the fast way and the slow way:
        the cost of a call itself."""
        ev = self.engine.evaluate
        fast = best_rate(lambda: [ev("empty.json", context) for _ in range(n)], n)
        slow_ev = self.slow_empty.evaluate
        m = max(n // 10, 1)
        slow = best_rate(lambda: [slow_ev(context) for _ in range(m)], m)
        return fast, slow


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # pragma: no cover
        return "?"


# =========================================================================================
# Contenders and the check before timing
# =========================================================================================

class Setup(NamedTuple):
    ruleset: Any
    doc: dict
    zen: Zen | None


def setup(with_zen: bool = True) -> Setup:
    library = load_library(ROOT / "rulesets", ROOT / "schemas")
    ruleset = library.ruleset(RULESET_ID)
    doc = read_yaml(ROOT / "rulesets" / f"{RULESET_ID}.yaml")
    check_texts(doc, FLOOR_WHEN, "the floor")
    ruleset.warm()
    return Setup(ruleset, doc, Zen(doc) if with_zen else None)


def validate_all(ruleset, raw: list[dict]) -> list[dict]:
    return [ruleset.contract.validate(s) for s in raw]


class Contender(NamedTuple):
    name: str
    one: Callable[[int], Any]               # evaluate snapshot i, return its result
    outcome: Callable[[Any], Outcome]       # that result as fired rules, actions, level, review
    loop: Callable[[int, int], None]        # evaluate snapshots lo..hi-1, results dropped


def contenders(st: Setup, raw: list[dict], validated: list[dict], zen_inputs: list | None) -> list[Contender]:
    """The engine first (every ratio is against it), then the others. Each loop is the
    plainest call of its contender, so that the loop itself costs the same for all."""
    rs = st.ruleset
    evaluate, run = rs.evaluate, rs.run

    def engine_loop(lo, hi):
        for i in range(lo, hi):
            evaluate(raw[i], "summary")

    def run_loop(lo, hi):
        for i in range(lo, hi):
            run(validated[i], "summary")

    def floor_loop(lo, hi):
        for i in range(lo, hi):
            floor(validated[i])

    out = [
        Contender("engine", lambda i: evaluate(raw[i], "summary"), engine_outcome, engine_loop),
        Contender("engine run", lambda i: run(validated[i], "summary"), engine_outcome, run_loop),
        Contender("floor", lambda i: floor(validated[i]), floor_outcome, floor_loop),
    ]
    if st.zen is not None:
        zen_ev, key, trace = st.zen.engine.evaluate, Zen.KEY, {"trace": True}

        def zen_loop(lo, hi):
            for i in range(lo, hi):
                zen_ev(key, zen_inputs[i])

        def zen_trace_loop(lo, hi):
            for i in range(lo, hi):
                zen_ev(key, zen_inputs[i], trace)

        out += [
            Contender("zen", lambda i: zen_ev(key, zen_inputs[i]), st.zen.outcome, zen_loop),
            Contender("zen trace", lambda i: zen_ev(key, zen_inputs[i], trace), st.zen.outcome, zen_trace_loop),
        ]
    return out


def compare(engine: Outcome, other: Outcome) -> list[tuple[str, Any, Any]]:
    """The ways ``other`` differs from the engine: fired set, final actions, level, review."""
    out = []
    if set(engine.fired) != set(other.fired):
        out.append(("fired", sorted(engine.fired), sorted(other.fired)))
    for kind in ("actions", "level", "review"):
        if getattr(engine, kind) != getattr(other, kind):
            out.append((kind, getattr(engine, kind), getattr(other, kind)))
    return out


class CheckReport(NamedTuple):
    n: int
    mismatches: dict        # contender name -> Counter(kind of difference -> snapshots; "any")
    examples: list          # (index, contender, kind, engine value, its value)
    levels: Counter
    any_risk: int
    fired_total: int
    fired_max: int
    rules_seen: set

    @property
    def ok(self) -> bool:
        return all(c["any"] == 0 for c in self.mismatches.values())


def check(cs: list[Contender], n: int, max_examples: int = 8) -> CheckReport:
    """Every contender on every snapshot, compared with the engine (``cs[0]``): the fired
    rules as a set, the final actions with their parameters, the level and the review."""
    engine, others = cs[0], cs[1:]
    bad = {c.name: Counter(any=0) for c in others}
    examples, levels = [], Counter()
    any_risk = fired_total = fired_max = 0
    seen: set = set()
    for i in range(n):
        ev = engine.one(i)
        eng = engine.outcome(ev)
        levels[eng.level] += 1
        any_risk += "any_risk" in ev.signals
        fired_total += len(eng.fired)
        fired_max = max(fired_max, len(eng.fired))
        seen.update(eng.fired)
        for c in others:
            diffs = compare(eng, c.outcome(c.one(i)))
            for kind, a, b in diffs:
                bad[c.name][kind] += 1
                if len(examples) < max_examples:
                    examples.append((i, c.name, kind, a, b))
            bad[c.name]["any"] += bool(diffs)
    return CheckReport(n, bad, examples, levels, any_risk, fired_total, fired_max, seen)


# =========================================================================================
# Timing
# =========================================================================================

def best_rate(fn: Callable[[], Any], n: int, repeat: int = 3) -> float:
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def paired_passes(cs: list[Contender], n: int, block: int, rounds: int,
                  clock: Callable[[], float] = time.process_time) -> dict[str, list[float]]:
    """Seconds per evaluation of each contender in each pass. A pass is one block of
    snapshots; every contender runs that same block back to back, the order rotating
    from pass to pass so that none always goes first or last. The default clock is the
    CPU time of this process (all its threads), which other work on a shared machine
    does not inflate."""
    per_eval: dict[str, list[float]] = {c.name: [] for c in cs}
    blocks = [(lo, min(lo + block, n)) for lo in range(0, n, block)]
    p = 0
    for _ in range(rounds):
        gc.collect()
        for lo, hi in blocks:
            k = p % len(cs)
            for c in cs[k:] + cs[:k]:
                t0 = clock()
                c.loop(lo, hi)
                per_eval[c.name].append(max(clock() - t0, 1e-9) / (hi - lo))
            p += 1
    return per_eval


def paired_ratio(per_eval: dict[str, list[float]], a: str, b: str) -> tuple[float, float, float]:
    """Rate of ``a`` over rate of ``b`` in each pass: (median, min, max)."""
    ratios = [tb / ta for ta, tb in zip(per_eval[a], per_eval[b])]
    return statistics.median(ratios), min(ratios), max(ratios)


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
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


LABELS = {
    "engine": "Vigil engine: evaluate(snapshot) - validation, rules, trail",
    "engine run": "Vigil engine: run(validated) - rules and trail only",
    "floor": "floor: straight-line Python over the validated snapshot",
    "zen": "zen-engine fast: evaluate(key, context)",
    "zen trace": "zen-engine fast with trace: evaluate(key, context, {trace})",
}

RATIOS = [  # (label, a, b, goal)
    ("engine / zen fast", "engine", "zen", 0.5),
    ("engine / zen fast with trace", "engine", "zen trace", 1.0),
    ("engine run / zen fast (no validation)", "engine run", "zen", None),
    ("engine / floor", "engine", "floor", None),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="snapshots generated (default 10000)")
    ap.add_argument("--block", type=int, default=500, help="snapshots per paired pass (default 500)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="times every block is timed; passes = rounds x n / block (default 2)")
    ap.add_argument("--memory", type=int, default=100000, metavar="N",
                    help="evaluations in the memory loop, cycling through the snapshots (default 100000; 0 skips)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the snapshot generator (default 7)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                    help="what a pass is timed by: this process's CPU time (default) or wall-clock time")
    ap.add_argument("--no-zen", action="store_true", help="leave zen-engine out (the floor only)")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N",
                    help="also print cProfile's top functions for N engine evaluations")
    ap.add_argument("--json", action="store_true", help="end with one line of JSON holding the figures")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    out = print

    st = setup(with_zen=not args.no_zen)
    rs = st.ruleset
    n = args.n
    out(f"Vigil engine benchmark: {rs.key} ({len(rs.rules)} rules), {n:,} snapshots, seed {args.seed}; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"zen-engine {st.zen.version if st.zen else 'left out'}, load average {_load()}")
    rss_start = rss_kib()
    raw = generate(n, args.seed)
    validated = validate_all(rs, raw)
    zen_inputs = [zen_input(d) for d in validated] if st.zen else None
    cs = contenders(st, raw, validated, zen_inputs)

    # -- check ---------------------------------------------------------------------------
    rep = check(cs, n)
    pct = lambda k: f"{100 * k / n:.1f}%"  # noqa: E731
    out("")
    out("snapshots")
    out("  levels (engine)         " + ", ".join(f"{lv} {pct(rep.levels[lv])}" for lv in rs.levels))
    out(f"  any risk signal         {pct(rep.any_risk)}; rules fired per snapshot: mean "
        f"{rep.fired_total / n:.2f}, max {rep.fired_max}; rules ever fired {len(rep.rules_seen)}/{len(rs.rules)}")
    out("")
    out(f"check before timing: every contender against the engine on all {n:,} snapshots "
        "(fired rules, final actions with parameters, level, review)")
    for name, bad in rep.mismatches.items():
        kinds = ", ".join(f"{k} {v}" for k, v in bad.items() if k != "any") or "none"
        out(f"  {name:<12} snapshots that differ: {bad['any']}  ({kinds})")
    for i, who, kind, a, b in rep.examples:
        out(f"    #{i} {who} {kind}: engine {a} / {who} {b}")
    if not rep.ok:
        out("results differ from the engine's: nothing timed")
        return 1

    # -- paired rates --------------------------------------------------------------------
    per_eval = paired_passes(cs, n, args.block, args.rounds, CLOCKS[args.clock])
    passes = len(per_eval["engine"])
    out("")
    out(f"rates: {passes} paired passes ({args.rounds} x {n:,} snapshots in blocks of {args.block}), timed by "
        f"{'CPU time of this process' if args.clock == 'cpu' else 'wall-clock time'}; in each pass every "
        "contender runs the same block, in rotating order")
    figures: dict[str, Any] = {"n": n, "passes": passes, "clock": args.clock, "rates": {}, "ratios": {}}
    for c in cs:
        rate = 1 / statistics.median(per_eval[c.name])
        figures["rates"][c.name] = round(rate)
        out(f"  {LABELS[c.name]:<62} {rate:>10,.0f} /s  {1e6 / rate:8.1f} us  (median pass)")
    if st.zen:
        fast, slow = st.zen.empty_rates(zen_inputs[0])
        slow_n = min(n, 500)
        slow_ev = st.zen.slow.evaluate
        slow_rate = best_rate(lambda: [slow_ev(zen_inputs[i]) for i in range(slow_n)], slow_n, repeat=1)
        figures["rates"].update({"zen slow": round(slow_rate), "zen empty fast": round(fast),
                                 "zen empty slow": round(slow)})
        out(f"  extra, not paired: zen-engine slow way, create_decision(json).evaluate(context)  "
            f"{slow_rate:>8,.0f} /s  ({slow_n} snapshots)")
        out(f"  extra, not paired: an empty input->output graph, zen fast {fast:,.0f} /s, slow {slow:,.0f} /s "
            "(the cost of a call itself)")
    out("")
    out("paired ratios (rate over rate in each pass; median [min - max] of the passes; above 1: the first is faster)")
    for label, a, b, goal in RATIOS:
        if a not in per_eval or b not in per_eval:
            continue
        med, lo, hi = paired_ratio(per_eval, a, b)
        figures["ratios"][f"{a} / {b}"] = [round(med, 4), round(lo, 4), round(hi, 4)]
        verdict = "" if goal is None else f"   goal at least {goal}: {'met' if med >= goal else 'NOT met'}"
        out(f"  {label:<40} {med:8.3f}  [{lo:.3f} - {hi:.3f}]{verdict}")

    # -- where the time goes -------------------------------------------------------------
    if args.cprofile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        sample = raw[: args.cprofile]
        prof.enable()
        for s in sample:
            rs.evaluate(s, "summary")
        prof.disable()
        out("")
        out(f"cProfile of evaluate over {len(sample):,} snapshots")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(20)

    # -- memory --------------------------------------------------------------------------
    out("")
    if args.memory > 0:
        gc.collect()
        before = rss_kib()
        out(f"memory: {args.memory:,} evaluate() calls cycling through the {n:,} snapshots "
            f"(RSS at start of the script {rss_start / 1024:.1f} MiB)")
        out(f"  {'evaluations':>12}  {'RSS MiB':>8}  {'evals/s':>8}")
        out(f"  {0:>12,}  {before / 1024:8.1f}")
        step = max(1, args.memory // 10)
        evaluate = rs.evaluate
        tick = time.perf_counter()
        for i in range(args.memory):
            evaluate(raw[i % n], "summary")
            if (i + 1) % step == 0 or i + 1 == args.memory:
                now = time.perf_counter()
                done = (i + 1) % step or step
                out(f"  {i + 1:>12,}  {rss_kib() / 1024:8.1f}  {done / (now - tick):8,.0f}")
                tick = now
        after = rss_kib()
        figures["rss_growth_mib"] = round((after - before) / 1024, 1)
        out(f"  RSS before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB "
            f"({(after - before) / 1024:+.1f} MiB); peak RSS (ru_maxrss) {maxrss_kib() / 1024:.1f} MiB")
    else:
        out(f"memory: loop skipped (--memory 0); peak RSS (ru_maxrss) {maxrss_kib() / 1024:.1f} MiB")
    out(f"\ntotal run time {time.perf_counter() - started:.0f} s; load average now {_load()}")
    if args.json:
        out(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
