"""Checking how rules feed each other through signals: the second stage of loading.

Every signal a rule reads must be derived by some rule, and no rule may depend on itself
through signals (a loop): with both true, every evaluation ends and a negated signal is
decided once its derivers have had their chance (see ``agenda``).
"""
from __future__ import annotations

from .errors import Problem
from .parse import Rule
from .util import did_you_mean, find_cycle


def check_signals(rules: tuple[Rule, ...], source: str, problems: list[Problem]) -> dict[str, tuple[str, ...]]:
    """Return, for each signal, the ids of the rules that derive it; record problems."""
    derivers: dict[str, list[Rule]] = {}
    for rule in rules:
        for s in rule.signals:
            derivers.setdefault(s, []).append(rule)
    for rule in rules:
        for s in sorted(rule.reads | rule.negates):
            if s not in derivers:
                problems.append(Problem(source, f"signal {s!r} is read but no rule derives it"
                                                f"{did_you_mean(s, derivers)}", rule=rule.id, path="when"))
    if problems:
        return {}
    graph = {r.id: sorted({d.id for s in (r.reads | r.negates) for d in derivers[s]}) for r in rules}
    cycle = find_cycle(graph)
    if cycle:
        by_id = {r.id: r for r in rules}
        steps = []
        for a, b in zip(cycle, cycle[1:]):
            shared = sorted(set(by_id[b].signals) & (by_id[a].reads | by_id[a].negates))
            steps.append(f"{a} reads {', '.join(shared)} derived by {b}")
        problems.append(Problem(source, "rule loop: " + "; ".join(steps), rule=cycle[0], path="when"))
        return {}
    return {s: tuple(r.id for r in rs) for s, rs in derivers.items()}
