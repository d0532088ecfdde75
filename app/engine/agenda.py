"""The agenda: which activated rule fires next, and when a negated signal is decided.

durable_rules finds the rules whose conditions hold (activations); the agenda decides
the order, as the policy-language guide states it:

* the activated rule with the highest ``priority`` fires next, ties in rule id order, each
  rule at most once; a fired rule's signals are asserted and may activate more rules;
* a signal is *decided* once every rule that derives it has had its chance: it fired, or
  it is not activated and every signal it reads is decided, so it can no longer fire;
* a rule that reads ``not signal(x)`` is considered only once ``x`` is decided: it waits
  for the rules that derive ``x`` and for nothing else, then competes by priority.

Which rules fire does not depend on that order (the signal graph has no loops, so each
negation is decided from final facts); the order is what the trail shows.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

from .compile import ready_fact, signal_fact
from .errors import LoopBoundExceeded
from .parse import Rule


@dataclass(frozen=True)
class Plan:
    """What the agenda needs to know about a ruleset, computed once when it is loaded."""

    names: dict[str, int]                    # durable_rules rule name -> rule index
    rank: tuple[int, ...]                    # rule index -> place in (-priority, id) order
    derives: tuple[tuple[str, ...], ...]     # rule index -> signals it derives
    signal_facts: dict[str, str]
    watched: tuple[str, ...]                 # signals a negation depends on, inputs first
    derivers: dict[str, tuple[int, ...]]     # signal -> indexes of the rules deriving it
    inputs: tuple[frozenset, ...]            # rule index -> signals it reads either way
    negates: tuple[frozenset, ...]           # rule index -> signals it reads under negation
    guarded: dict[str, tuple[int, ...]]      # signal -> indexes of the rules negating it
    ready_facts: dict[int, str]
    ready_needs: dict[int, tuple[frozenset, ...]]  # rule index -> positive signals of its negated disjuncts
    awaiting: dict[str, tuple[int, ...]]     # signal -> rules whose ready fact may wait for it
    deciders: frozenset                      # rules whose firing may decide a watched signal


def plan(rules: tuple[Rule, ...], names: dict[str, int], negated: dict[int, tuple[frozenset, ...]]) -> Plan:
    ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
    rank = [0] * len(rules)
    for pos, r in enumerate(ordered):
        rank[r.index] = pos
    derivers: dict[str, list[int]] = {}
    for r in rules:
        for s in r.signals:
            derivers.setdefault(s, []).append(r.index)
    guarded: dict[str, list[int]] = {}
    for r in rules:
        for s in sorted(r.negates):
            guarded.setdefault(s, []).append(r.index)
    inputs = tuple(r.reads | r.negates for r in rules)
    watched = _inputs_first(set(guarded), derivers, inputs)
    return Plan(
        names=dict(names), rank=tuple(rank), derives=tuple(r.signals for r in rules),
        signal_facts={s: signal_fact(s) for s in derivers},
        watched=watched,
        derivers={s: tuple(ix) for s, ix in derivers.items()}, inputs=inputs,
        negates=tuple(r.negates for r in rules), guarded={s: tuple(ix) for s, ix in guarded.items()},
        ready_facts={r.index: ready_fact(r.index) for r in rules if r.negates},
        ready_needs=dict(negated),
        awaiting={s: tuple(sorted(i for i, sets in negated.items() if any(s in p for p in sets)))
                  for s in derivers},
        deciders=frozenset(i for s in watched for i in derivers[s]))


def _inputs_first(negated: set[str], derivers: dict[str, list[int]], inputs: tuple[frozenset, ...]) -> tuple:
    """The negated signals and, transitively, the signals their derivers read, each after
    the signals it depends on (the signal graph has no loops: checked before this)."""
    needs: dict[str, set[str]] = {}
    todo = list(negated)
    while todo:
        s = todo.pop()
        if s in needs:
            continue
        needs[s] = {t for d in derivers.get(s, ()) for t in inputs[d]}
        todo.extend(needs[s])
    order: list[str] = []
    placed: set[str] = set()
    remaining = sorted(needs)
    while remaining:
        ready = [s for s in remaining if needs[s] <= placed]
        order.extend(ready)
        placed.update(ready)
        remaining = [s for s in remaining if s not in placed]
    return tuple(order)


def run(plan: Plan, session, snapshot_fact: str, bound: int) -> tuple[list[int], tuple[str, ...]]:
    """Fire rules in agenda order; return the indexes fired, in order, and the signals derived."""
    names, rank, derivers, inputs = plan.names, plan.rank, plan.derivers, plan.inputs
    fired: list[int] = []
    fired_set: set[int] = set()
    signals: dict[str, None] = {}         # in the order derived
    derived: set[str] = set()
    activated: set[int] = set()
    pending: list[tuple[int, int]] = []
    undecided = list(plan.watched)
    decided: set[str] = set()
    ready: set[int] = set()

    def activate(found: list[str]) -> None:
        for name in found:
            idx = names.get(name)
            if idx is not None and idx not in activated:
                activated.add(idx)
                heapq.heappush(pending, (rank[idx], idx))

    def settle() -> None:
        # one pass in dependency order reaches the fixpoint: a ready fact asserted here
        # can only activate rules deriving signals later in the order
        still = []
        for s in undecided:
            for d in derivers[s]:
                if d not in fired_set and (d in activated or not inputs[d] <= decided):
                    still.append(s)
                    break
            else:
                decided.add(s)
                for r in plan.guarded.get(s, ()):
                    arm(r)
        undecided[:] = still

    def arm(r: int) -> None:
        # the ready fact of a rule whose negations are decided, once a disjunct could
        # match (its positive signals derived): asserting it earlier changes nothing
        if r in ready:
            return
        for needs in plan.ready_needs[r]:
            if needs <= derived:
                break
        else:
            return
        if plan.negates[r] <= decided:
            ready.add(r)
            activate(session.assert_fact(plan.ready_facts[r]))

    activate(session.assert_fact(snapshot_fact))
    if undecided:
        settle()
    while pending:
        _, idx = heapq.heappop(pending)
        if len(fired) >= bound:
            raise LoopBoundExceeded(f"more than {bound} rule firings in one evaluation")
        fired.append(idx)
        fired_set.add(idx)
        for s in plan.derives[idx]:
            if s not in derived:
                signals[s] = None
                derived.add(s)
                activate(session.assert_fact(plan.signal_facts[s]))
                for r in plan.awaiting[s]:
                    arm(r)
        # only the firing of a rule deriving a watched signal can decide one
        if undecided and idx in plan.deciders:
            settle()
    return fired, tuple(signals)
