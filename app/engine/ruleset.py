"""Rulesets: checking a policy document, compiling it, and evaluating snapshots.

``Ruleset(document, contract)`` checks everything (structure, conditions against the
contract, the action catalogue, signals, loops) and raises ``RulesetInvalid`` with every
problem found; a Ruleset object that exists is always servable. ``evaluate`` validates a
snapshot and returns a frozen ``Evaluation`` with its explanation trail.
"""
from __future__ import annotations

import difflib
import heapq
import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from . import runtime
from .compile import CompileProblem, ExprCompiler, Layout, dnf
from .condition import ConditionSyntaxError, Node, Not, Signal, parse
from .contract import FactContract
from .errors import LoopBoundExceeded, Problem, RulesetInvalid
from .interpret import Env, first_failure, leaf_facts, values_read
from .result import Evaluation, FinalAction, Firing, NotFired, Overridden
from .typecheck import Checker
from .util import canonical_hash, show

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
COMBINE_RE = re.compile(r"^(once|max|min)(?:\(([a-z][a-z0-9_]*)\))?$")
TOP_KEYS = {"id", "version", "title", "owner", "contract", "description", "levels", "review_frequencies",
            "signals", "actions", "rules"}
RULE_KEYS = {"id", "title", "clause", "priority", "when", "signals", "actions", "level", "review", "reason",
             "description"}
ACTION_KEYS = {"title", "adverse", "params", "combine", "overridden_by", "description"}
PARAM_KEYS = {"type", "min", "max", "values", "required", "description"}
PARAM_TYPES = ("integer", "decimal", "string", "enum")


@dataclass(frozen=True)
class ParamSpec:
    kind: str
    required: bool = False
    min: Decimal | None = None
    max: Decimal | None = None
    values: tuple = ()


@dataclass(frozen=True)
class ActionSpec:
    name: str
    title: str
    adverse: bool = False
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    combine: str = "once"
    combine_param: str | None = None
    overridden_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionRequest:
    name: str
    params: tuple = ()   # sorted (key, value) pairs

    @property
    def params_dict(self) -> dict:
        return dict(self.params)


@dataclass(frozen=True)
class Rule:
    index: int
    id: str
    title: str
    clause: str
    priority: int
    when: str
    condition: Node
    signals: tuple[str, ...]
    actions: tuple[ActionRequest, ...]
    level: str | None
    review: str | None
    reason: str | None
    description: str
    reads: frozenset          # signals read positively
    negates: frozenset        # signals read under negation
    paths: frozenset          # contract paths the condition reads
    stratum: int = 0


def _polarity_signals(node: Node, positive: bool, pos: set, neg: set) -> None:
    if isinstance(node, Signal):
        (pos if positive else neg).add(node.name)
        return
    if isinstance(node, Not):
        _polarity_signals(node.item, not positive, pos, neg)
        return
    for child in node.children():
        _polarity_signals(child, positive, pos, neg)


class Ruleset:
    """A checked, compiled ruleset version. Immutable once built."""

    def __init__(self, document: dict, contract: FactContract, source: str = "<ruleset>"):
        self.source = source
        self.document = document
        self.contract = contract
        problems: list[Problem] = []
        self._problems = problems
        if not isinstance(document, dict):
            raise RulesetInvalid([Problem(source, "a ruleset must be a mapping")])
        self._parse_header(document)
        self.levels, self.level_review = self._parse_levels(document.get("levels"))
        self.frequencies = self._parse_frequencies(document.get("review_frequencies"))
        self.signal_catalogue = self._parse_signal_catalogue(document.get("signals"))
        self.actions = self._parse_actions(document.get("actions"))
        self.rules = self._parse_rules(document.get("rules"))
        if not problems:
            self._check_signals_and_loops()
        if not problems:
            self._compile()
        if problems:
            raise RulesetInvalid(problems)
        self.hash = canonical_hash(document)
        self.contract_key = contract.key

    # -- parsing ----------------------------------------------------------------------
    def _problem(self, message: str, rule: str | None = None, path: str | None = None) -> None:
        self._problems.append(Problem(self.source, message, rule=rule, path=path))

    def _parse_header(self, doc: dict) -> None:
        for key in doc:
            if key not in TOP_KEYS:
                self._problem(f"unknown key {key!r}", path=str(key))
        self.id = doc.get("id")
        self.version = doc.get("version")
        if not isinstance(self.id, str) or not NAME_RE.match(self.id):
            self._problem("id must be lower_snake_case text", path="id")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            self._problem("version must be a positive integer", path="version")
        self.title = str(doc.get("title") or "")
        self.owner = str(doc.get("owner") or "")
        self.description = str(doc.get("description") or "")
        if not self.title:
            self._problem("title is required", path="title")
        if not self.owner:
            self._problem("owner is required", path="owner")
        if doc.get("contract") != self.contract.key:
            self._problem(f"contract must name the contract it reads, here {self.contract.key!r}", path="contract")

    def _parse_frequencies(self, raw) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            self._problem("review_frequencies must list frequencies, least frequent first", path="review_frequencies")
            return ()
        for name, review in self.level_review.items():
            if review not in raw:
                self._problem(f"level {name}: review {review!r} is not in review_frequencies", path=f"levels.{name}")
        return tuple(raw)

    def _parse_levels(self, raw) -> tuple[tuple[str, ...], dict[str, str]]:
        if not isinstance(raw, dict) or not raw:
            self._problem("levels must map each warning level (lowest first) to {review: ...}", path="levels")
            return (), {}
        reviews = {}
        for name, body in raw.items():
            if not isinstance(body, dict) or not isinstance(body.get("review"), str):
                self._problem("a level needs review: <frequency>", path=f"levels.{name}")
                continue
            reviews[name] = body["review"]
        return tuple(raw), reviews

    def _parse_signal_catalogue(self, raw) -> dict[str, str] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self._problem("signals must map each signal name to its description", path="signals")
            return None
        for name in raw:
            if not isinstance(name, str) or not NAME_RE.match(name):
                self._problem(f"signal name {name!r} must be lower_snake_case", path=f"signals.{name}")
        return {str(k): str(v) for k, v in raw.items()}

    def _parse_actions(self, raw) -> dict[str, ActionSpec]:
        out: dict[str, ActionSpec] = {}
        if not isinstance(raw, dict) or not raw:
            self._problem("actions must list the action catalogue", path="actions")
            return out
        for name, body in raw.items():
            where = f"actions.{name}"
            if not isinstance(name, str) or not NAME_RE.match(name):
                self._problem("action names are lower_snake_case", path=where)
                continue
            body = body or {}
            if not isinstance(body, dict):
                self._problem("an action is a mapping (title, adverse, params, combine, overridden_by)", path=where)
                continue
            for key in body:
                if key not in ACTION_KEYS:
                    self._problem(f"unknown key {key!r}", path=f"{where}.{key}")
            params: dict[str, ParamSpec] = {}
            for pname, pbody in (body.get("params") or {}).items():
                spec = self._parse_param(pbody, f"{where}.params.{pname}")
                if spec:
                    params[pname] = spec
            combine = str(body.get("combine", "once"))
            m = COMBINE_RE.match(combine)
            cparam = None
            if not m or (m.group(1) == "once") != (m.group(2) is None):
                self._problem("combine must be once, max(param) or min(param)", path=f"{where}.combine")
                mode = "once"
            else:
                mode, cparam = m.group(1), m.group(2)
                if cparam is not None and (cparam not in params or params[cparam].kind not in ("integer", "decimal")):
                    self._problem(f"combine {combine}: {cparam!r} is not a numeric parameter of {name}",
                                  path=f"{where}.combine")
            over = body.get("overridden_by") or []
            if not isinstance(over, list):
                self._problem("overridden_by must be a list of actions", path=f"{where}.overridden_by")
                over = []
            out[name] = ActionSpec(name, str(body.get("title") or name.replace("_", " ")), bool(body.get("adverse")),
                                   params, mode, cparam, tuple(map(str, over)))
        for spec in out.values():
            for other in spec.overridden_by:
                if other not in out:
                    self._problem(f"overridden_by names unknown action {other!r}{_did_you_mean(other, out)}",
                                  path=f"actions.{spec.name}.overridden_by")
        # overriding must not go round in a circle
        seen_cycle = _find_cycle({n: list(s.overridden_by) for n, s in out.items()})
        if seen_cycle:
            self._problem("actions override each other in a circle: " + " -> ".join(seen_cycle), path="actions")
        return out

    def _parse_param(self, body, where) -> ParamSpec | None:
        if not isinstance(body, dict) or body.get("type") not in PARAM_TYPES:
            self._problem(f"a parameter needs type: one of {', '.join(PARAM_TYPES)}", path=where)
            return None
        for key in body:
            if key not in PARAM_KEYS:
                self._problem(f"unknown key {key!r}", path=f"{where}.{key}")
        lo = Decimal(str(body["min"])) if "min" in body else None
        hi = Decimal(str(body["max"])) if "max" in body else None
        values = tuple(body.get("values") or ())
        if body["type"] == "enum" and not values:
            self._problem("an enum parameter needs values", path=where)
        return ParamSpec(body["type"], bool(body.get("required", False)), lo, hi, values)

    def _parse_request(self, item, rule_id: str, where: str) -> ActionRequest | None:
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = params or {}
            if not isinstance(params, dict):
                self._problem(f"parameters of {name} must be a mapping", rule_id, where)
                return None
        else:
            self._problem("an action is a name, or name: {parameters}", rule_id, where)
            return None
        spec = self.actions.get(name)
        if spec is None:
            self._problem(f"unknown action {name!r}: it is not in the action catalogue"
                          f"{_did_you_mean(name, self.actions)}", rule_id, where)
            return None
        clean = {}
        for pname, value in params.items():
            pspec = spec.params.get(pname)
            if pspec is None:
                self._problem(f"action {name} has no parameter {pname!r}{_did_you_mean(pname, spec.params)}",
                              rule_id, f"{where}.{pname}")
                continue
            error = _check_param(pspec, value)
            if error:
                self._problem(f"action {name}: parameter {pname} {error}", rule_id, f"{where}.{pname}")
                continue
            clean[pname] = Decimal(str(value)) if pspec.kind == "decimal" else value
        for pname, pspec in spec.params.items():
            if pspec.required and pname not in params:
                self._problem(f"action {name} needs parameter {pname!r}", rule_id, where)
        return ActionRequest(name, tuple(sorted(clean.items())))

    def _parse_rules(self, raw) -> tuple[Rule, ...]:
        if not isinstance(raw, list) or not raw:
            self._problem("rules must be a non-empty list", path="rules")
            return ()
        checker = Checker(self.contract)
        rules: list[Rule] = []
        seen: set[str] = set()
        for index, body in enumerate(raw):
            where = f"rules[{index}]"
            if not isinstance(body, dict):
                self._problem("a rule is a mapping", path=where)
                continue
            rid = body.get("id")
            if not isinstance(rid, str) or not ID_RE.match(rid):
                self._problem("rule id must be text of letters, digits, '-', '_' or '.'", path=f"{where}.id")
                continue
            if rid in seen:
                self._problem("rule id is used twice", rid, "id")
                continue
            seen.add(rid)
            for key in body:
                if key not in RULE_KEYS:
                    self._problem(f"unknown key {key!r}{_did_you_mean(str(key), RULE_KEYS)}", rid, str(key))
            count_before = len(self._problems)
            title = str(body.get("title") or "")
            if not title:
                self._problem("title is required", rid, "title")
            priority = body.get("priority", 0)
            if isinstance(priority, bool) or not isinstance(priority, int):
                self._problem("priority must be an integer", rid, "priority")
                priority = 0
            when = body.get("when")
            condition = None
            checked = None
            try:
                condition = parse(when if isinstance(when, str) else "")
            except ConditionSyntaxError as exc:
                self._problem(f"condition {when!r}: {exc}", rid, "when")
            if condition is not None:
                checked = checker.check_condition(condition)
                for tp in checked.problems:
                    self._problem(tp.message, rid, tp.path or "when")
            signals = body.get("signals") or []
            if not isinstance(signals, list) or not all(isinstance(s, str) and NAME_RE.match(s) for s in signals):
                self._problem("signals must be a list of lower_snake_case names", rid, "signals")
                signals = []
            if self.signal_catalogue is not None:
                for s in signals:
                    if s not in self.signal_catalogue:
                        self._problem(f"signal {s!r} is not in the signals catalogue"
                                      f"{_did_you_mean(s, self.signal_catalogue)}", rid, "signals")
            requests = []
            raw_actions = body.get("actions") or []
            if not isinstance(raw_actions, list):
                self._problem("actions must be a list", rid, "actions")
                raw_actions = []
            for i, item in enumerate(raw_actions):
                req = self._parse_request(item, rid, f"actions[{i}]")
                if req:
                    requests.append(req)
            level = body.get("level")
            if level is not None and level not in self.levels:
                self._problem(f"unknown level {level!r}; levels are {', '.join(self.levels)}", rid, "level")
            review = body.get("review")
            if review is not None and review not in self.frequencies:
                self._problem(f"unknown review frequency {review!r}; choose from {', '.join(self.frequencies)}",
                              rid, "review")
            reason = body.get("reason")
            if reason is not None:
                if not isinstance(reason, str):
                    self._problem("reason must be text", rid, "reason")
                else:
                    for placeholder in _PLACEHOLDER.findall(reason):
                        if self.contract.field(placeholder) is None:
                            self._problem(f"reason: unknown field {{{placeholder}}}"
                                          f"{_did_you_mean(placeholder, [p for p, _ in self.contract.paths()])}",
                                          rid, "reason")
            if not (signals or requests or level or review):
                self._problem("the rule does nothing: give it signals, actions, a level or a review", rid)
            if len(self._problems) > count_before or condition is None:
                continue
            pos: set = set()
            neg: set = set()
            _polarity_signals(condition, True, pos, neg)
            rules.append(Rule(index=len(rules), id=rid, title=title, clause=str(body.get("clause") or ""),
                              priority=priority, when=when, condition=condition, signals=tuple(signals),
                              actions=tuple(requests), level=level, review=review,
                              reason=body.get("reason"), description=str(body.get("description") or ""),
                              reads=frozenset(pos), negates=frozenset(neg), paths=frozenset(checked.paths)))
        return tuple(rules)

    # -- signals, loops, strata ---------------------------------------------------------
    def _check_signals_and_loops(self) -> None:
        derivers: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for s in rule.signals:
                derivers.setdefault(s, []).append(rule)
        for rule in self.rules:
            for s in sorted(rule.reads | rule.negates):
                if s not in derivers:
                    self._problem(f"signal {s!r} is read but no rule derives it"
                                  f"{_did_you_mean(s, derivers)}", rule.id, "when")
        if self._problems:
            return
        graph = {r.id: sorted({d.id for s in (r.reads | r.negates) for d in derivers[s]}) for r in self.rules}
        cycle = _find_cycle(graph)
        if cycle:
            by_id = {r.id: r for r in self.rules}
            steps = []
            for a, b in zip(cycle, cycle[1:]):
                shared = sorted(set(by_id[b].signals) & (by_id[a].reads | by_id[a].negates))
                steps.append(f"{a} reads {', '.join(shared)} derived by {b}")
            self._problem("rule loop: " + "; ".join(steps), cycle[0], "when")
            return
        strata: dict[str, int] = {}

        def stratum(rule: Rule) -> int:
            if rule.id not in strata:
                value = 0
                for s in rule.reads:
                    value = max([value] + [stratum(d) for d in derivers[s]])
                for s in rule.negates:
                    value = max([value] + [stratum(d) + 1 for d in derivers[s]])
                strata[rule.id] = value
            return strata[rule.id]

        self.rules = tuple(_replace(r, stratum=stratum(r)) for r in self.rules)
        self.derivers = {s: tuple(r.id for r in rs) for s, rs in derivers.items()}

    # -- compile ----------------------------------------------------------------------
    def _compile(self) -> None:
        root = Layout("")
        compiler = ExprCompiler(root)
        definition: dict[str, dict] = {}
        names: dict[str, int] = {}
        for rule in self.rules:
            try:
                disjuncts = dnf(rule.condition)
                if not disjuncts:
                    raise CompileProblem("the condition can never be true (it needs a signal and its absence)")
                for k, d in enumerate(disjuncts):
                    conds = [compiler.compile(node, pol) for node, pol in d.snap]
                    m = {"t": "s"} if not conds else {"$and": [{"t": "s"}] + conds}
                    facts: list[dict] = [{"m": m}]
                    for j, s in enumerate(sorted(d.pos)):
                        facts.append({f"g{j}": {"$and": [{"t": "g"}, {"n": s}]}})
                    if d.neg:
                        facts.append({"p": {"$and": [{"t": "p"}, {"k": rule.stratum}]}})
                        for j, s in enumerate(sorted(d.neg)):
                            facts.append({f"x{j}$not": {"$and": [{"t": "g"}, {"n": s}]}})
                    name = f"{rule.index}.{k}"
                    definition[name] = {"all": facts}
                    names[name] = rule.index
            except CompileProblem as exc:
                self._problem(str(exc), rule.id, "when")
        if self._problems:
            return
        definition[runtime.SENTINEL] = runtime.sentinel_rule()
        self.definition = definition
        self._names = names
        self._build_fact = root.builder()
        ordered = sorted(self.rules, key=lambda r: (-r.priority, r.id))
        self._rank = {r.index: pos for pos, r in enumerate(ordered)}
        self._max_stratum = max((r.stratum for r in self.rules if r.negates), default=0)
        self._signal_facts = {s: json.dumps({"sid": runtime.SID, "id": f"g:{s}", "t": "g", "n": s})
                              for s in self.derivers}
        self._phase_facts = [json.dumps({"sid": runtime.SID, "id": f"p{k}", "t": "p", "k": k})
                             for k in range(self._max_stratum + 1)]
        self._matcher = runtime.Matcher(f"{self.id}@{self.version}", definition)
        self._by_id = {r.id: r for r in self.rules}
        self._readers = {s: tuple(r.index for r in self.rules if s in r.reads) for s in self.derivers}

    # -- public -----------------------------------------------------------------------
    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

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
        return self.run(self.contract.validate(snapshot), explain, mask=mask)

    def run(self, data: dict, explain: str = "summary", *, max_firings: int | None = None,
            mask=None) -> Evaluation:
        """Evaluate an already validated snapshot."""
        started = time.perf_counter_ns()
        fact = self._build_fact(data, Env(data))
        fact["t"], fact["id"], fact["sid"] = "s", "s", runtime.SID
        bound = len(self.rules) if max_firings is None else max_firings
        rank, names, rules = self._rank, self._names, self.rules
        fired: list[int] = []
        signals: dict[str, None] = {}
        activated: set[int] = set()
        pending: list[tuple[int, int]] = []

        def activate(found: list[str]) -> None:
            for name in found:
                idx = names.get(name)
                if idx is not None and idx not in activated:
                    activated.add(idx)
                    heapq.heappush(pending, (rank[idx], idx))

        with self._matcher.session() as session:
            activate(session.assert_fact(json.dumps(fact)))
            stratum = 0
            while True:
                if pending:
                    _, idx = heapq.heappop(pending)
                    if len(fired) >= bound:
                        raise LoopBoundExceeded(f"more than {bound} rule firings in one evaluation")
                    fired.append(idx)
                    for s in rules[idx].signals:
                        if s not in signals:
                            signals[s] = None
                            activate(session.assert_fact(self._signal_facts[s]))
                elif stratum < self._max_stratum:
                    stratum += 1
                    activate(session.assert_fact(self._phase_facts[stratum]))
                else:
                    break
            session.end()
        matched_ns = time.perf_counter_ns() - started
        return self._result(data, fired, tuple(signals), explain, matched_ns, started, mask)

    # -- results ----------------------------------------------------------------------
    def _result(self, data, fired, signals, explain, matched_ns, started, mask=None) -> Evaluation:
        rules = self.rules
        sigset = frozenset(signals)
        order_of = {idx: n for n, idx in enumerate(fired)}
        firings = []
        for n, idx in enumerate(fired):
            rule = rules[idx]
            values = values_read(rule.condition, data, sigset)
            if mask is not None:
                values = {k: mask.shown(v) if mask.personal(k) else v for k, v in values.items()}
            used_by = sorted({rules[j].id for s in rule.signals for j in self._readers.get(s, ())
                              if j in order_of and order_of[j] > n}, key=lambda rid: order_of[self._by_id[rid].index])
            firings.append(Firing(
                order=n + 1, rule=rule.id, title=rule.title, clause=rule.clause, priority=rule.priority,
                condition=rule.when, values=values,
                signals=rule.signals, reads_signals=tuple(sorted(rule.reads)), used_by=tuple(used_by),
                actions=tuple((a.name, a.params_dict) for a in rule.actions), level=rule.level, review=rule.review))
        actions, overridden = self._combine([rules[i] for i in fired], data, sigset, mask)
        level, level_rules = self.levels[0], ()
        for idx in fired:
            r = rules[idx]
            if r.level is not None:
                if self.levels.index(r.level) > self.levels.index(level):
                    level, level_rules = r.level, (r.id,)
                elif r.level == level:
                    level_rules += (r.id,)
        review, review_rules = self.level_review[level], ()
        freq = self.frequencies
        for idx in fired:
            r = rules[idx]
            if r.review is not None and freq.index(r.review) >= freq.index(review):
                if freq.index(r.review) > freq.index(review):
                    review, review_rules = r.review, (r.id,)
                else:
                    review_rules += (r.id,)
        not_fired = None
        if explain == "full":
            not_fired = tuple(
                NotFired(rule=r.id, title=r.title, clause=r.clause, condition=r.when,
                         failed=_masked_failure(first_failure(r.condition, data, sigset), mask))
                for r in sorted(rules, key=lambda r: r.id) if r.index not in order_of)
        return Evaluation(
            ruleset_id=self.id, ruleset_version=self.version, ruleset_hash=self.hash,
            contract=self.contract.key, level=level, level_rules=level_rules, review_frequency=review,
            review_rules=review_rules, actions=tuple(actions), overridden=tuple(overridden), signals=signals,
            firings=tuple(firings), not_fired=not_fired,
            timing_us={"match": matched_ns // 1000, "total": (time.perf_counter_ns() - started) // 1000})

    def _combine(self, fired_rules: list[Rule], data, sigset, mask=None):
        groups: dict[tuple, list[Rule]] = {}
        order: list[tuple] = []
        for rule in fired_rules:
            for req in rule.actions:
                spec = self.actions[req.name]
                key = (req.name,) if spec.combine != "once" else (req.name, req.params)
                if key not in groups:
                    groups[key] = []
                    order.append(key)
                groups[key].append((rule, req))
        finals: list[tuple[ActionSpec, dict, tuple]] = []
        overridden: list[Overridden] = []
        for key in order:
            entries = groups[key]
            spec = self.actions[key[0]]
            if spec.combine == "once":
                finals.append((spec, entries[0][1].params_dict, tuple(dict.fromkeys(r.id for r, _ in entries))))
                continue
            values = [req.params_dict.get(spec.combine_param) for _, req in entries]
            best = (max if spec.combine == "max" else min)(v for v in values if v is not None)
            winners = [(r, req) for (r, req), v in zip(entries, values) if v == best]
            finals.append((spec, winners[0][1].params_dict, tuple(dict.fromkeys(r.id for r, _ in winners))))
            for (r, req), v in zip(entries, values):
                if v != best:
                    overridden.append(Overridden(action=spec.name, params=req.params_dict, rules=(r.id,),
                                                 by=spec.name, by_rules=finals[-1][2],
                                                 why=f"{spec.combine}({spec.combine_param}) keeps {best}"))
        present = {spec.name: rules for spec, _, rules in finals}
        # An action is dropped only by an overriding action that is itself final; the
        # override graph is acyclic (checked at load), so this recursion ends.
        is_final: dict[str, bool] = {}

        def final(name: str) -> bool:
            if name not in is_final:
                is_final[name] = name in present and not any(
                    final(o) for o in self.actions[name].overridden_by)
            return is_final[name]

        kept = []
        for spec, params, rule_ids in finals:
            by = next((o for o in spec.overridden_by if final(o)), None)
            if by is not None:
                overridden.append(Overridden(action=spec.name, params=params, rules=rule_ids, by=by,
                                             by_rules=present[by], why=f"{by} overrides {spec.name}"))
            else:
                kept.append((spec, params, rule_ids))
        actions = []
        for spec, params, rule_ids in kept:
            reason = self._reason(spec, params, rule_ids, data, sigset, mask) if spec.adverse else None
            actions.append(FinalAction(action=spec.name, title=spec.title, params=params, adverse=spec.adverse,
                                       rules=rule_ids, reason=reason))
        return actions, overridden

    def _reason(self, spec: ActionSpec, params: dict, rule_ids, data, sigset, mask=None) -> str:
        head = spec.title
        if params:
            head += " (" + ", ".join(f"{k} {_show(v)}" for k, v in params.items()) + ")"
        parts = []
        for rid in rule_ids:
            rule = self._by_id[rid]
            if rule.reason:
                text = _fill_template(rule.reason, data, mask)
            else:
                facts = leaf_facts(rule.condition, data, sigset)
                text = "; ".join(_fact_sentence(_masked_fact(f, mask)) for f in facts)
            clause = f" [{rule.clause}]" if rule.clause else ""
            parts.append(f"{rule.title}{clause}: {text}")
        return f"{head} because " + " | ".join(parts) + "."


# -- helpers ------------------------------------------------------------------------------

def _replace(rule: Rule, **changes) -> Rule:
    from dataclasses import replace
    return replace(rule, **changes)


def _did_you_mean(name: str, choices) -> str:
    best = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {best[0]!r}?" if best else ""


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in graph}
    stack: list[str] = []

    def visit(n):
        colour[n] = GREY
        stack.append(n)
        for m in graph.get(n, ()):
            if colour.get(m, BLACK) == GREY:
                return stack[stack.index(m):] + [m]
            if colour.get(m) == WHITE:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        colour[n] = BLACK
        return None

    for n in sorted(graph):
        if colour[n] == WHITE:
            found = visit(n)
            if found:
                return found
    return None


def _check_param(spec: ParamSpec, value) -> str | None:
    if spec.kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or \
                (spec.kind == "integer" and not isinstance(value, int)):
            return f"must be {'an integer' if spec.kind == 'integer' else 'a number'}"
        d = Decimal(str(value))
        if spec.min is not None and d < spec.min:
            return f"must be at least {spec.min}"
        if spec.max is not None and d > spec.max:
            return f"must be at most {spec.max}"
    elif spec.kind == "enum":
        if value not in spec.values:
            return f"must be one of {', '.join(map(str, spec.values))}"
    elif not isinstance(value, str):
        return "must be text"
    return None


def _json_params(params: dict) -> dict:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in params.items()}


_show = show


def _fact_sentence(fact: dict) -> str:
    if fact["op"] is None:
        return fact["subject"]
    return f"{fact['subject']} is {_show(fact['actual'])} (policy: {fact['op']} {_show(fact['threshold'])})"


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")


def _fill_template(template: str, data: dict, mask=None) -> str:
    def value(m):
        v: Any = data
        for part in m.group(1).split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is not None and mask is not None and mask.personal(m.group(1)):
            return mask.shown(v)
        return _show(v) if v is not None else "(missing)"
    return _PLACEHOLDER.sub(value, template)


def _masked_fact(fact: dict, mask) -> dict:
    """A reason's fact with what it derives from personal fields masked."""
    if mask is None:
        return fact
    fact = dict(fact)
    if mask.mentions(fact["subject"]) and fact["op"] is not None:
        fact["actual"] = mask.shown(fact["actual"])
    if mask.mentions(fact.get("against")):
        fact["threshold"] = mask.shown(fact["threshold"])
    return fact


def _masked_failure(failed: dict, mask) -> dict:
    if mask is None:
        return failed
    failed = dict(failed)
    if mask.personal(failed.get("path") or "") or mask.mentions(failed.get("expression")) \
            or mask.mentions(failed.get("condition")):
        for key in ("actual", "threshold"):
            if failed.get(key) is not None and not isinstance(failed.get(key), bool):
                failed[key] = mask.shown(failed[key])
    return failed
