"""Random conditions: whatever a policy author writes, the compiled durable_rules form
fires exactly when the three-valued reference interpreter says the condition is true."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from app.engine.interpret import Env, compile_value, evaluate

from .helpers import rule, ruleset

NUMERIC = ["card.utilization", "card.limit", "card.balance", "card.dpd", "overdue_6m", "customer.income"]
LOAN_NUMERIC = ["dpd", "outstanding"]
OPS = ["==", "!=", "<", "<=", ">", ">="]
LITERALS = ["0", "1", "0.5", "0.8", "30", "90", "1000", "1000.01", "-1"]


def _leaf(var: str | None):
    if var:
        field = st.sampled_from(LOAN_NUMERIC).map(lambda f: f"{var}.{f}")
        boolean = st.just(f"{var}.restructured")
    else:
        field = st.sampled_from(NUMERIC)
        boolean = st.just("customer.employed")
    num_cmp = st.tuples(field, st.sampled_from(OPS), st.sampled_from(LITERALS)).map(" ".join)
    field_cmp = st.tuples(field, st.sampled_from(OPS), field).map(" ".join)
    arith = st.tuples(field, st.sampled_from("+-*/"), field, st.sampled_from(OPS), st.sampled_from(LITERALS)).map(
        lambda t: f"{t[0]} {t[1]} {t[2]} {t[3]} {t[4]}")
    flipped = st.tuples(st.sampled_from(LITERALS), st.sampled_from(OPS), field).map(" ".join)
    options = [num_cmp, field_cmp, arith, flipped, boolean]
    if not var:
        options += [
            st.sampled_from(['customer.segment == "mass"', 'customer.segment != "affluent"',
                             'customer.segment in ["mass", "private_banking"]',
                             'customer.segment not in ["mass"]', "present(card.dpd)", "missing(customer.income)",
                             'matches(customer.employer, "[a-c]+")', 'contains(customer.employer, "b")',
                             "count(l in loans: l.dpd >= 30) >= 1", "sum(l in loans: l.outstanding) > 100",
                             'any(t in tags: t == "fraud")', 'as_of >= date("2026-01-01")']),
        ]
    return st.one_of(*options)


def _condition(var: str | None = None, depth: int = 0):
    leaf = _leaf(var)
    if depth >= 2:
        return leaf
    sub = st.deferred(lambda: _condition(var, depth + 1))
    combos = [
        leaf,
        st.tuples(sub, sub).map(lambda t: f"({t[0]}) and ({t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]}) or ({t[1]})"),
        sub.map(lambda c: f"not ({c})"),
    ]
    if var is None:
        inner = _condition("l", depth + 1)
        combos += [inner.map(lambda c: f"any(l in loans: {c})"), inner.map(lambda c: f"all(l in loans: {c})"),
                   inner.map(lambda c: f"not any(l in loans: {c})"), inner.map(lambda c: f"not all(l in loans: {c})")]
    return st.one_of(*combos)


money = st.decimals(min_value=0, max_value=2000, places=2)
loan = st.fixed_dictionaries({}, optional={"dpd": st.sampled_from([0, 1, 29, 30, 31, 89, 90, 1000]),
                                           "outstanding": st.sampled_from([Decimal("0"), Decimal("1000"),
                                                                           Decimal("1000.01")]) | money,
                                           "restructured": st.booleans()})
snapshots = st.fixed_dictionaries(
    {"customer": st.fixed_dictionaries({"id": st.just("c")}, optional={
        "segment": st.sampled_from(["mass", "affluent", "private_banking"]),
        "income": st.sampled_from([Decimal("0"), Decimal("1000")]) | money,
        "employed": st.booleans(), "employer": st.text(alphabet="abcd", max_size=4)})},
    optional={
        "card": st.fixed_dictionaries({}, optional={
            "utilization": st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("0.8"), Decimal("0.8001"),
                                            Decimal("1")]),
            "limit": st.sampled_from([Decimal("0"), Decimal("1000"), Decimal("1000.01")]) | money,
            "balance": st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("1000")]) | money,
            "dpd": st.sampled_from([0, 1, 30, 90, 91])}),
        "overdue_6m": st.integers(0, 3),
        "as_of": st.sampled_from(["2025-12-31", "2026-01-01", "2026-06-30"]),
        "loans": st.lists(loan, max_size=3),
        "tags": st.lists(st.sampled_from(["fraud", "vip"]), max_size=2),
    })


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_condition(), st.lists(snapshots, min_size=3, max_size=3))
def test_compiled_condition_fires_exactly_when_it_is_true(condition, batch):
    rs = ruleset([rule("R", condition, level="red")])
    for snapshot in batch:
        data = rs.contract.validate(snapshot)
        expected = evaluate(rs.rule("R").condition, Env(data)) is True
        assert (rs.run(data).fired == ("R",)) == expected, (condition, snapshot)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_condition(), st.lists(snapshots, min_size=3, max_size=3))
def test_compiled_closures_agree_with_the_interpreter(condition, batch):
    # the terms handed to durable_rules as precomputed keys are computed by compile_value
    rs = ruleset([rule("R", condition, level="red")])
    node = rs.rule("R").condition
    compiled = compile_value(node)
    for snapshot in batch:
        data = rs.contract.validate(snapshot)
        assert compiled(Env(data)) is evaluate(node, Env(data)), (condition, snapshot)
