"""Property test of the agenda on random small rulesets: chains of signals, negations,
``or`` across signals and priorities, against the naive re-scanning model of
``test_property`` (which shares nothing with durable_rules or the agenda)."""
from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from app.engine import RulesetInvalid

from .helpers import rule, ruleset, snap
from .test_property import naive_fired

SIGNALS = ("a", "b", "c", "d")        # a rule deriving one of these reads only earlier ones
TESTS = ("overdue_6m >= 1", "overdue_6m >= 2", "card.dpd > 30", 'customer.segment == "mass"', "overdue_6m == 0")


@st.composite
def _term(draw, readable: tuple[str, ...]):
    kinds = ["test"] + (["signal", "not signal"] if readable else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "test":
        return draw(st.sampled_from(TESTS))
    name = draw(st.sampled_from(readable))
    return f"signal({name})" if kind == "signal" else f"not signal({name})"


@st.composite
def _rule(draw, rid: str):
    derives = draw(st.sampled_from((None,) + SIGNALS))
    readable = SIGNALS[:SIGNALS.index(derives)] if derives else SIGNALS
    terms = draw(st.lists(_term(readable), min_size=1, max_size=3))
    # a negation joined by "or" would leave a disjunct without it, which fires without
    # waiting for the negated signal, where the model waits (the trail order differs)
    negated = any(t.startswith("not ") for t in terms)
    joins = [draw(st.sampled_from((" and ",) if negated else (" and ", " or "))) for _ in terms[1:]]
    when = terms[0] + "".join(j + t for j, t in zip(joins, terms[1:]))
    extra = {"signals": [derives]} if derives else {"actions": ["watchlist"]}
    return rule(rid, when, priority=draw(st.integers(-2, 2)), **extra)


@st.composite
def _rules(draw):
    count = draw(st.integers(2, 7))
    return [draw(_rule(f"R{i}")) for i in range(count)]


snapshots = st.builds(lambda od, dpd, seg: snap(overdue_6m=od, card={"dpd": dpd}, customer={"id": "c", "segment": seg}),
                      st.integers(0, 3), st.sampled_from([0, 45]), st.sampled_from(["mass", "affluent"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_rules(), st.lists(snapshots, min_size=4, max_size=4))
def test_the_agenda_fires_what_the_naive_model_fires_in_its_order(rules, batch):
    try:
        rs = ruleset(rules)
    except RulesetInvalid:
        assume(False)      # a signal read that no rule derives, or a condition that can never hold
        return
    for s in batch:
        data = rs.contract.validate(s)
        assert list(rs.run(data).fired) == naive_fired(rs, data), ([r["when"] for r in rules], s)
