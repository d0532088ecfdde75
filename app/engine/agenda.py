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

from .compile import signal_fact
from .errors import LoopBoundExceeded
from .parse import Rule


@dataclass(frozen=True)
class Plan:
    """What the agenda needs to know about a ruleset, computed once when it is loaded."""

    names: dict[str, tuple[int, frozenset]]  # durable_rules rule name -> (rule index, signals it negates)
    rank: tuple[int, ...]                    # rule index -> place in (-priority, id) order
    derives: tuple[tuple[str, ...], ...]     # rule index -> signals it derives
    signal_facts: dict[str, str]
    watched: tuple[str, ...]                 # signals a negation depends on, inputs first
    derivers: dict[str, tuple[int, ...]]     # signal -> indexes of the rules deriving it
    inputs: tuple[frozenset, ...]            # rule index -> signals it reads either way
    negates: tuple[frozenset, ...]           # rule index -> signals it reads under negation
    guarded: dict[str, tuple[int, ...]]      # signal -> indexes of the rules negating it
    deciders: frozenset                      # rules whose firing may decide a watched signal


def plan(rules: tuple[Rule, ...], names: dict[str, tuple[int, frozenset]]) -> Plan:
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
    """Fire rules in agenda order; return the indexes fired, in order, and the signals derived.

    durable_rules reports a disjunct once its snapshot part and the signals it reads hold;
    one that also reads signals under negation waits here until the rule's negated
    signals are decided, then counts only if none of its own was derived."""
    names, rank, derivers, inputs = plan.names, plan.rank, plan.derivers, plan.inputs
    fired: list[int] = []
    fired_set: set[int] = set()
    signals: dict[str, None] = {}         # in the order derived
    activated: set[int] = set()
    pending: list[tuple[int, int]] = []
    undecided = list(plan.watched)
    decided: set[str] = set()
    released: set[int] = set()            # rules whose negated signals are all decided
    waiting: dict[int, list[frozenset]] = {}  # rule -> negations of its matched disjuncts, until released

    def activate(found: list[str]) -> None:
        for name in found:
            entry = names.get(name)
            if entry is None:
                continue
            idx, negated = entry
            if idx in activated:
                continue
            if negated:
                if idx not in released:
                    waiting.setdefault(idx, []).append(negated)
                    continue
                if not negated.isdisjoint(signals):
                    continue
            activated.add(idx)
            heapq.heappush(pending, (rank[idx], idx))

    def settle() -> None:
        # one pass in dependency order reaches the fixpoint: a rule released here can only
        # derive signals later in the order
        still = []
        for s in undecided:
            for d in derivers[s]:
                if d not in fired_set and (d in activated or not inputs[d] <= decided):
                    still.append(s)
                    break
            else:
                decided.add(s)
                for r in plan.guarded.get(s, ()):
                    if r not in released and plan.negates[r] <= decided:
                        released.add(r)
                        if r not in activated and any(negated.isdisjoint(signals) for negated in waiting.pop(r, ())):
                            activated.add(r)
                            heapq.heappush(pending, (rank[r], r))
        undecided[:] = still

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
            if s not in signals:
                signals[s] = None
                activate(session.assert_fact(plan.signal_facts[s]))
        # only the firing of a rule deriving a watched signal can decide one
        if undecided and idx in plan.deciders:
            settle()
    return fired, tuple(signals)
