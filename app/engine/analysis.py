"""Static checks a reviewer sees when a ruleset version is submitted.

* rules that can never fire (a contradictory condition, or one that needs a signal only
  such rules derive);
* rules that duplicate or are shadowed by another (whenever the rule fires, another fires
  too and already has at least the same effect, so removing it changes no decision);
* actions recommended with different parameters but no way to combine them
  (``combine: once``), so one decision may carry two conflicting versions of an action;
* signals derived and never used;
* follow-up declarations no rule can use: a follow-up declared on an action no rule
  recommends, and ``overdue_follow_up(action)`` of an action no rule recommends.

The analysis is conservative: terms it cannot reason about (arithmetic, lists,
functions) are assumed satisfiable, so a finding is always real.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from .condition import NEGATED, And, Compare, In, Literal, Node, Not, Or, OverdueFollowUp, Path, Presence, Signal
from .parse import Rule
from .ruleset import Ruleset

MAX_DISJUNCTS = 64


@dataclass(frozen=True)
class Finding:
    check: str          # never_fires | duplicate | shadowed | conflicting_action | unused_signal | follow_up
    message: str
    rule: str | None = None
    related: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = {"check": self.check, "message": self.message}
        if self.rule:
            out["rule"] = self.rule
        if self.related:
            out["related"] = list(self.related)
        return out


# atoms: ("cmp", path, op, value) | ("in", path, values, negated) | ("present", path, bool)
#        ("signal", name, bool) | ("opaque", id, bool)

def _atoms(node: Node, positive: bool) -> list[list[tuple]] | None:
    """DNF over atoms, or None when it grows too large to analyse."""
    if isinstance(node, Not):
        return _atoms(node.item, not positive)
    if isinstance(node, (And, Or)):
        parts = [_atoms(i, positive) for i in node.items]
        if any(p is None for p in parts):
            return None
        if isinstance(node, And) == positive:
            result = [[]]
            for part in parts:
                result = [a + b for a, b in product(result, part)]
                if len(result) > MAX_DISJUNCTS:
                    return None
            return result
        return [d for part in parts for d in part]
    if isinstance(node, Compare):
        if isinstance(node.left, Path) and isinstance(node.right, Literal):
            path, op, value = node.left.dotted, node.op, node.right.value
        elif isinstance(node.right, Path) and isinstance(node.left, Literal):
            from .condition import FLIPPED
            path, op, value = node.right.dotted, FLIPPED[node.op], node.left.value
        else:
            return [[("opaque", node.text, positive)]]
        return [[("cmp", path, op if positive else NEGATED[op], value)]]
    if isinstance(node, In) and isinstance(node.operand, Path):
        return [[("in", node.operand.dotted, frozenset(node.values), node.negated != (not positive))]]
    if isinstance(node, Presence):
        return [[("present", node.path.dotted, node.present == positive)]]
    if isinstance(node, Signal):
        return [[("signal", node.name, positive)]]
    if isinstance(node, Path):
        return [[("cmp", node.dotted, "==", positive)]]
    return [[("opaque", node.text, positive)]]


def _consistent(conj: list[tuple]) -> bool:
    """Whether a conjunction of atoms can hold: no signal or opaque term with its negation,
    and the comparisons on each path leave some value."""
    by_path: dict[str, list[tuple]] = {}
    for atom in conj:
        if atom[0] in ("signal", "opaque"):
            if (atom[0], atom[1], not atom[2]) in conj:
                return False
        else:
            by_path.setdefault(atom[1], []).append(atom)
    return all(_path_consistent(atoms) for atoms in by_path.values())


def _path_consistent(atoms: list[tuple]) -> bool:
    needs_value = any(a[0] in ("cmp", "in") for a in atoms)
    presence = {a[2] for a in atoms if a[0] == "present"}
    if presence == {True, False} or (needs_value and False in presence):
        return False
    lo = hi = None        # (value, inclusive)
    equal: set = set()
    unequal: set = set()
    allowed: set | None = None
    for atom in atoms:
        if atom[0] == "cmp":
            _, _, op, v = atom
            if op == "==":
                equal.add(v)
            elif op == "!=":
                unequal.add(v)
            elif op in (">", ">="):
                if lo is None or v > lo[0] or (v == lo[0] and op == ">"):
                    lo = (v, op == ">=")
            elif op in ("<", "<="):
                if hi is None or v < hi[0] or (v == hi[0] and op == "<"):
                    hi = (v, op == "<=")
        elif atom[0] == "in":
            values = set(atom[2])
            if atom[3]:
                unequal |= values
            else:
                allowed = values if allowed is None else allowed & values
    if len(equal) > 1 or equal & unequal:
        return False
    if allowed is not None and not ((allowed & equal if equal else allowed) - unequal):
        return False
    return _range_consistent(lo, hi, equal, unequal)


def _range_consistent(lo, hi, equal: set, unequal: set) -> bool:
    try:
        if lo is not None and hi is not None:
            if lo[0] > hi[0] or (lo[0] == hi[0] and not (lo[1] and hi[1])):
                return False
            if lo[0] == hi[0] and lo[0] in unequal:
                return False
    except TypeError:
        pass
    for v in equal:
        try:
            if lo is not None and (v < lo[0] or (v == lo[0] and not lo[1])):
                return False
            if hi is not None and (v > hi[0] or (v == hi[0] and not hi[1])):
                return False
        except TypeError:
            pass
    return True


def _implies_atom(b_atoms: list[tuple], a: tuple) -> bool:
    if a in b_atoms:
        return True
    if a[0] != "cmp" or a[2] in ("==", "!="):
        return False
    _, path, op, v = a
    for b in b_atoms:
        if b[0] != "cmp" or b[1] != path:
            continue
        bop, bv = b[2], b[3]
        try:
            if op in (">", ">=") and bop in (">", ">=", "=="):
                if bv > v or (bv == v and (op == ">=" or bop == ">")):
                    return True
            if op in ("<", "<=") and bop in ("<", "<=", "=="):
                if bv < v or (bv == v and (op == "<=" or bop == "<")):
                    return True
        except TypeError:
            continue
    return False


def _implies(b: list[list[tuple]], a: list[list[tuple]]) -> bool:
    """Every way b can be true makes a true (conservative)."""
    return all(any(all(_implies_atom(bd, atom) for atom in ad) for ad in a) for bd in b if _consistent(bd))


def _covers(ruleset: Ruleset, a: Rule, b: Rule) -> bool:
    """a's effect includes b's."""
    if not set(b.signals) <= set(a.signals):
        return False
    levels, freqs = ruleset.levels, ruleset.frequencies
    if b.level is not None and (a.level is None or levels.index(a.level) < levels.index(b.level)):
        return False
    if b.review is not None and (a.review is None or freqs.index(a.review) < freqs.index(b.review)):
        return False
    for req in b.actions:
        spec = ruleset.actions[req.name]
        ok = False
        for other in a.actions:
            if other.name != req.name:
                continue
            if other.params == req.params:
                ok = True
            elif spec.combine in ("max", "min"):
                mine = req.params_dict.get(spec.combine_param)
                theirs = other.params_dict.get(spec.combine_param)
                if mine is not None and theirs is not None and \
                        (theirs >= mine if spec.combine == "max" else theirs <= mine):
                    ok = True
        if not ok:
            return False
    return True


def analyse(ruleset: Ruleset) -> list[Finding]:
    dnfs = {r.id: _atoms(r.condition, True) for r in ruleset.rules}
    derivers: dict[str, set[str]] = {}
    for r in ruleset.rules:
        for s in r.signals:
            derivers.setdefault(s, set()).add(r.id)
    findings, never = _never_fires(ruleset, dnfs, derivers)
    findings += _shadowed(ruleset, [r for r in ruleset.rules if r.id not in never and dnfs[r.id] is not None], dnfs)
    findings += _conflicting_actions(ruleset)
    read = set().union(*(r.reads | r.negates for r in ruleset.rules)) if ruleset.rules else set()
    findings += [Finding("unused_signal", f"signal {s} is derived but no rule reads it", None, tuple(sorted(ids)))
                 for s, ids in sorted(derivers.items()) if s not in read]
    findings += _follow_ups(ruleset)
    return findings


def _follow_ups(ruleset: Ruleset) -> list[Finding]:
    """Follow-up declarations that no rule of the ruleset puts to use."""
    recommended = {req.name for r in ruleset.rules for req in r.actions}
    findings = [Finding("follow_up", f"action {name} declares a follow_up but no rule recommends it, so it never "
                                     "opens a task")
                for name, spec in ruleset.actions.items() if spec.follow_up is not None and name not in recommended]
    for r in ruleset.rules:
        for node in r.condition.walk():
            if isinstance(node, OverdueFollowUp) and node.action not in recommended:
                findings.append(Finding("follow_up", f"{node.text}: no rule of this ruleset recommends "
                                                     f"{node.action}, so only a task another ruleset opened can "
                                                     "make it true", r.id))
    return findings


def _never_fires(ruleset: Ruleset, dnfs: dict, derivers: dict[str, set[str]]) -> tuple[list[Finding], set[str]]:
    """Rules whose condition contradicts itself, then, until nothing changes, rules that
    need a signal only such rules derive."""
    findings: list[Finding] = []
    never: set[str] = set()
    for r in ruleset.rules:
        d = dnfs[r.id]
        if d is not None and not any(_consistent(c) for c in d):
            never.add(r.id)
            findings.append(Finding("never_fires", "the condition contradicts itself, so the rule can never fire",
                                    r.id))
    changed = True
    while changed:
        changed = False
        for r in ruleset.rules:
            d = dnfs[r.id]
            if r.id in never or d is None:
                continue
            dead = {s for s in r.reads if derivers.get(s, set()) <= never}
            if dead and all(any(a[0] == "signal" and a[2] and a[1] in dead for a in conj)
                            for conj in d if _consistent(conj)):
                never.add(r.id)
                changed = True
                findings.append(Finding("never_fires", f"it needs signal {', '.join(sorted(dead))}, which only "
                                        "rules that can never fire derive", r.id,
                                        tuple(sorted(set().union(*(derivers.get(s, set()) for s in dead))))))
    return findings, never


def _shadowed(ruleset: Ruleset, rules: list[Rule], dnfs: dict) -> list[Finding]:
    """Rules that another rule duplicates, or fires alongside with at least the same effect."""
    findings: list[Finding] = []
    for b in rules:
        for a in rules:
            if a.id == b.id:
                continue
            if _implies(dnfs[b.id], dnfs[a.id]) and _covers(ruleset, a, b):
                mutual = _implies(dnfs[a.id], dnfs[b.id]) and _covers(ruleset, b, a)
                if mutual:
                    if a.id < b.id:
                        findings.append(Finding("duplicate", f"same condition and effect as {a.id}", b.id, (a.id,)))
                    break
                findings.append(Finding("shadowed", f"whenever it fires, {a.id} fires too with at least the same "
                                        "effect, so it changes no decision", b.id, (a.id,)))
                break
    return findings


def _conflicting_actions(ruleset: Ruleset) -> list[Finding]:
    """Actions asked for with different parameters and no way to combine them."""
    findings: list[Finding] = []
    for name, spec in ruleset.actions.items():
        if spec.combine != "once":
            continue
        variants: dict[tuple, list[str]] = {}
        for r in ruleset.rules:
            for req in r.actions:
                if req.name == name:
                    variants.setdefault(req.params, []).append(r.id)
        if len(variants) > 1:
            shown = "; ".join(f"{dict(p) or '{}'} by {', '.join(ids)}" for p, ids in variants.items())
            findings.append(Finding("conflicting_action", f"{name} is recommended with different parameters ({shown}) "
                                    "but its combine is 'once': give it combine: max(param) or min(param)",
                                    None, tuple(i for ids in variants.values() for i in ids)))
    return findings
