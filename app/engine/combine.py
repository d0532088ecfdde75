"""Combining what the fired rules ask for into one decision.

Actions: one final action per name and parameters (``combine: once``), or per name with
the largest or smallest parameter winning (``max(param)``/``min(param)``, ties join); then
an action is dropped when an action in its ``overridden_by`` is itself final. The warning
level is the highest any fired rule sets; the review frequency the most frequent of the
level's own and every fired rule's ``review``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .parse import ActionSpec, Rule
from .result import Overridden


@dataclass(frozen=True)
class Combined:
    """A final action before its reason sentence is written."""

    spec: ActionSpec
    params: dict
    rules: tuple[str, ...]


def combine_actions(catalogue: dict[str, ActionSpec],
                    fired: list[Rule]) -> tuple[list[Combined], list[Overridden]]:
    finals, overridden = _combine_requests(catalogue, fired)
    present = {c.spec.name: c.rules for c in finals}
    is_final = _final(catalogue, present)
    kept = []
    for c in finals:
        by = next((o for o in c.spec.overridden_by if is_final[o]), None)
        if by is not None:
            overridden.append(Overridden(action=c.spec.name, params=c.params, rules=c.rules, by=by,
                                         by_rules=present[by], why=f"{by} overrides {c.spec.name}"))
        else:
            kept.append(c)
    return kept, overridden


def _final(catalogue: dict[str, ActionSpec], present) -> "_Final":
    return _Final(catalogue, present)


class _Final(dict):
    """name -> whether the action is final: asked for, and not dropped by an overriding
    action that is itself final. Computed on first look-up; the override graph is acyclic
    (checked at load) and the walk is iterative, so a chain of any length is followed."""

    def __init__(self, catalogue: dict[str, ActionSpec], present):
        super().__init__()
        self.catalogue, self.present = catalogue, present

    def __missing__(self, start: str) -> bool:
        todo = [start]
        while todo:
            name = todo[-1]
            if name in self:
                todo.pop()
                continue
            if name not in self.present:
                self[name] = False   # not asked for: final or not, nothing to look at
                todo.pop()
                continue
            over = self.catalogue[name].overridden_by
            waiting = [o for o in over if o not in self]
            if waiting:
                todo.extend(waiting)
                continue
            todo.pop()
            self[name] = not any(self[o] for o in over)
        return self[start]


def _combine_requests(catalogue: dict[str, ActionSpec],
                      fired: list[Rule]) -> tuple[list[Combined], list[Overridden]]:
    """Several requests of one action become one, by the action's ``combine``."""
    groups: dict[tuple, list] = {}
    for rule in fired:
        for req in rule.actions:
            spec = catalogue[req.name]
            key = (req.name,) if spec.combine != "once" else (req.name, req.params)
            groups.setdefault(key, []).append((rule, req))
    finals: list[Combined] = []
    overridden: list[Overridden] = []
    for key, entries in groups.items():
        spec = catalogue[key[0]]
        if spec.combine == "once":
            finals.append(Combined(spec, entries[0][1].params_dict, _ids(r for r, _ in entries)))
            continue
        values = [req.params_dict.get(spec.combine_param) for _, req in entries]
        best = (max if spec.combine == "max" else min)(v for v in values if v is not None)
        winners = [(r, req) for (r, req), v in zip(entries, values) if v == best]
        finals.append(Combined(spec, winners[0][1].params_dict, _ids(r for r, _ in winners)))
        for (r, req), v in zip(entries, values):
            if v != best:
                overridden.append(Overridden(action=spec.name, params=req.params_dict, rules=(r.id,),
                                             by=spec.name, by_rules=finals[-1].rules,
                                             why=f"{spec.combine}({spec.combine_param}) keeps {best}"))
    return finals, overridden


def _ids(rules) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.id for r in rules))


def highest_level(levels: tuple[str, ...], fired: list[Rule]) -> tuple[str, tuple[str, ...]]:
    """The highest level a fired rule sets (the first level if none does), and the rules setting it."""
    level, rules = levels[0], ()
    for r in fired:
        if r.level is not None:
            if levels.index(r.level) > levels.index(level):
                level, rules = r.level, (r.id,)
            elif r.level == level:
                rules += (r.id,)
    return level, rules


def most_frequent_review(frequencies: tuple[str, ...], review: str,
                         fired: list[Rule]) -> tuple[str, tuple[str, ...]]:
    """The most frequent of ``review`` (the level's) and every fired rule's, with the rules asking for it."""
    rules: tuple[str, ...] = ()
    for r in fired:
        if r.review is not None and frequencies.index(r.review) >= frequencies.index(review):
            if frequencies.index(r.review) > frequencies.index(review):
                review, rules = r.review, (r.id,)
            else:
                rules += (r.id,)
    return review, rules
