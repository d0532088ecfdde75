"""Rulesets: a checked, compiled policy that evaluates snapshots.

``Ruleset(document, contract)`` runs the loading stages, each in its own module:
``parse`` (structure, conditions type-checked against the contract, the action
catalogue), ``signals`` (every signal read is derived; no loops), ``compile`` (to
durable_rules) and ``agenda.plan``. It raises ``RulesetInvalid`` with every problem
found, so a Ruleset object that exists is always servable. ``evaluate`` validates a
snapshot, lets durable_rules match and the ``agenda`` fire, then ``combine``s the fired
rules into one decision and ``explain``s it in a frozen ``Evaluation``.
"""
from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from . import agenda, explain, runtime
from .combine import combine_actions, highest_level, most_frequent_review
from .compile import compile_rules
from .contract import DataFinding, FactContract
from .errors import Problem, RulesetInvalid
from .followup import FOLLOW_UP, split_facts
from .interpret import Env
from .parse import Rule, parse_ruleset
from .result import Evaluation, FinalAction
from .signals import check_signals
from .util import canonical_hash


# the snapshot fact as durable_rules parses it: compact, and no check for cycles (it is a
# tree of plain values built by compile.Layout), which halves json.dumps' time
_fact_json = json.JSONEncoder(check_circular=False, separators=(",", ":")).encode
MAX_OUTCOMES_KEPT = 4096   # combinations of firings whose outcome is kept (see Ruleset._outcome)


class Ruleset:
    """A checked, compiled ruleset version. Immutable once built."""

    def __init__(self, document: dict, contract: FactContract, source: str = "<ruleset>"):
        self.source = source
        self.document = document
        self.contract = contract
        if not isinstance(document, dict):
            raise RulesetInvalid([Problem(source, "a ruleset must be a mapping")])
        problems: list[Problem] = []
        parsed = parse_ruleset(document, contract, source, problems)
        self.id, self.version = parsed.id, parsed.version
        self.title, self.owner, self.description = parsed.title, parsed.owner, parsed.description
        self.levels, self.level_review, self.frequencies = parsed.levels, parsed.level_review, parsed.frequencies
        self.signal_catalogue = parsed.signal_catalogue
        self.actions = parsed.actions
        self.rules: tuple[Rule, ...] = parsed.rules
        self.derivers: dict[str, tuple[str, ...]] = {}
        if not problems:
            self.derivers = check_signals(self.rules, source, problems)
        compiled = compile_rules(self.rules, source, problems) if not problems else None
        if problems:
            raise RulesetInvalid(problems)
        self.hash = canonical_hash(document)
        self.definition = compiled.definition
        self._build_fact = compiled.build_fact
        self._plan = agenda.plan(self.rules, compiled.names)
        self._matcher = runtime.Matcher(self.key, self.definition)
        self._by_id = {r.id: r for r in self.rules}
        self._readers = {s: tuple(r.index for r in self.rules if s in r.reads) for s in self.derivers}
        self._contract_key = contract.key
        self._outcomes: dict[tuple[int, ...], tuple] = {}

    # -- public -----------------------------------------------------------------------
    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def matcher(self) -> runtime.Matcher:
        """The durable_rules handle of this ruleset in this process (for its counters)."""
        return self._matcher

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def close(self) -> None:
        """Free the durable_rules handle of this process (it is made again if needed)."""
        self._matcher.close()

    def warm(self) -> None:
        """Create the durable_rules handle now (in this process) rather than on first use."""
        self._matcher.warm()

    def describe(self) -> dict:
        return {
            "id": self.id, "version": self.version, "hash": self.hash, "title": self.title, "owner": self.owner,
            "description": self.description,
            "contract": {"id": self.contract.id, "version": self.contract.version, "hash": self.contract.hash},
            "levels": [{"level": lv, "review": self.level_review[lv]} for lv in self.levels],
            "review_frequencies": list(self.frequencies),
            "signals": sorted(self.derivers),
            "actions": [{"action": a.name, "title": a.title, "adverse": a.adverse, "combine":
                         a.combine + (f"({a.combine_param})" if a.combine_param else ""),
                         "overridden_by": list(a.overridden_by),
                         "params": {k: {"type": p.kind, "required": p.required} for k, p in a.params.items()}}
                        for a in self.actions.values()],
            "rules": [{"id": r.id, "title": r.title, "clause": r.clause, "priority": r.priority, "when": r.when,
                       "signals": list(r.signals),
                       "actions": [{"action": a.name, "params": _json_params(a.params_dict)} for a in r.actions],
                       "level": r.level, "review": r.review} for r in self.rules],
        }

    def evaluate(self, snapshot: Any, explain: str = "summary", *, mask=None) -> Evaluation:
        """Validate ``snapshot`` against the contract, then evaluate it. ``mask`` (a
        ``masking.Redaction`` for this contract) shows personal values masked in the
        trail, the reasons and the failed conditions; the rules see the real values."""
        snapshot, facts = split_facts(snapshot)
        data = self.contract.validate(snapshot)
        if facts is not None:  # the follow-up facts a scenario or a trial states
            data = {**data, FOLLOW_UP: facts}
        return self.run(data, explain, mask=mask)

    def run(self, data: dict, explain: str = "summary", *, max_firings: int | None = None,
            mask=None) -> Evaluation:
        """Evaluate an already validated snapshot. A value that fails its plausibility
        check is taken out first, so the rules read it as missing, and is named in the
        result's data_quality."""
        data, findings = self.contract.screen(data)
        fact = self._build_fact(data, Env(data))
        fact["t"], fact["id"], fact["sid"] = "s", "s", runtime.SID
        bound = len(self.rules) if max_firings is None else max_firings
        with self._matcher.session() as session:
            fired, signals = agenda.run(self._plan, session, _fact_json(fact), bound)
            session.end()
        return self._result(data, fired, signals, explain, mask, findings)

    # -- results ----------------------------------------------------------------------
    def _result(self, data: dict, fired: list[int], signals: tuple[str, ...], explain_mode: str,
                mask=None, findings=()) -> Evaluation:
        rules = self.rules
        sigset = frozenset(signals)
        fixed = self._outcomes.get(tuple(fired))
        if fixed is None:
            fixed = self._outcome(tuple(fired))
        actions, overridden, level, level_rules, review, review_rules, outline = fixed
        actions = tuple(
            replace(a, reason=explain.reason(self.actions[a.action], a.params, [self._by_id[r] for r in a.rules],
                                             data, sigset, mask)) if a.adverse else a
            for a in actions)
        return Evaluation(
            ruleset_id=self.id, ruleset_version=self.version, ruleset_hash=self.hash,
            contract=self._contract_key, level=level, level_rules=level_rules, review_frequency=review,
            review_rules=review_rules, actions=actions, overridden=overridden, signals=signals,
            firings=explain.trail(outline, data, sigset, mask),
            not_fired=explain.not_fired(rules, fired, data, sigset, mask) if explain_mode == "full" else None,
            data_quality=tuple(f if mask is None or not mask.personal(f.field) else
                               DataFinding(f.field, mask.shown(f.value), f.expectation) for f in findings))

    def _outcome(self, fired: tuple[int, ...]) -> tuple:
        """What follows from which rules fired, in which order, whatever the snapshot: the
        final actions (an adverse one still without its reason), those overridden, level,
        review and the outline of the trail. Kept for the most recent combinations of
        firings (a bounded number)."""
        fired_rules = [self.rules[i] for i in fired]
        combined, overridden = combine_actions(self.actions, fired_rules)
        actions = tuple(FinalAction(action=c.spec.name, title=c.spec.title, params=c.params, adverse=c.spec.adverse,
                                    rules=c.rules, reason=None) for c in combined)
        level, level_rules = highest_level(self.levels, fired_rules)
        review, review_rules = most_frequent_review(self.frequencies, self.level_review[level], fired_rules)
        outcome = (actions, tuple(overridden), level, level_rules, review, review_rules,
                   explain.outline(self.rules, fired, self._readers))
        if len(self._outcomes) >= MAX_OUTCOMES_KEPT:
            self._outcomes.clear()
        self._outcomes[fired] = outcome
        return outcome


def _json_params(params: dict) -> dict:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in params.items()}
