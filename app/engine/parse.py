"""Parsing a ruleset document: the first stage of loading a ruleset.

``parse_ruleset`` reads the header, the warning levels and review frequencies, the
signal and action catalogues and every rule, type-checking each condition against the
contract. Every problem is collected (with the rule id and field path) rather than the
first one raised, so an author sees them all at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

from app.core.bounds import bounded_decimal

from .condition import ConditionSyntaxError, Node, Not, OverdueFollowUp, Signal, parse
from .contract import FactContract
from .errors import Problem
from .followup import FollowUpSpec, parse_follow_up
from .typecheck import Checker
from .util import did_you_mean, find_cycle

# Patterns are matched whole (fullmatch): "R-1\n" is not the id "R-1".
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,127}")
COMBINE_RE = re.compile(r"(once|max|min)(?:\(([a-z][a-z0-9_]*)\))?")
PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")
TOP_KEYS = {"id", "version", "title", "owner", "contract", "description", "levels", "review_frequencies",
            "signals", "actions", "rules"}
RULE_KEYS = {"id", "title", "clause", "priority", "when", "signals", "actions", "level", "review", "reason",
             "description"}
ACTION_KEYS = {"title", "adverse", "params", "combine", "overridden_by", "description", "follow_up"}
PARAM_KEYS = {"type", "min", "max", "values", "required", "description"}
PARAM_TYPES = ("integer", "decimal", "string", "enum")
MAX_PRIORITY = 1_000_000
MAX_VERSION = 2 ** 31 - 1


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
    # What a person must do once the action is decided (app/engine/followup.py), if anything.
    follow_up: FollowUpSpec | None = None


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


@dataclass
class ParsedRuleset:
    """What a ruleset document says, once parsed and type-checked."""

    id: str
    version: int
    title: str
    owner: str
    description: str
    levels: tuple[str, ...]
    level_review: dict[str, str]
    frequencies: tuple[str, ...]
    signal_catalogue: dict[str, str] | None
    actions: dict[str, ActionSpec]
    rules: tuple[Rule, ...]


def polarity_signals(node: Node, positive: bool, pos: set, neg: set) -> None:
    """Collect the signals ``node`` reads positively into ``pos``, under negation into ``neg``."""
    if isinstance(node, Signal):
        (pos if positive else neg).add(node.name)
        return
    if isinstance(node, Not):
        polarity_signals(node.item, not positive, pos, neg)
        return
    for child in node.children():
        polarity_signals(child, positive, pos, neg)


def parse_ruleset(document: dict, contract: FactContract, source: str,
                  problems: list[Problem]) -> ParsedRuleset:
    """Parse ``document`` (a mapping), appending every problem found to ``problems``."""
    return _Parser(contract, source, problems).parse(document)


class _Parser:
    def __init__(self, contract: FactContract, source: str, problems: list[Problem]):
        self.contract = contract
        self.source = source
        self.problems = problems
        self.levels: tuple[str, ...] = ()
        self.frequencies: tuple[str, ...] = ()
        self.signal_catalogue: dict[str, str] | None = None
        self.actions: dict[str, ActionSpec] = {}

    def problem(self, message: str, rule: str | None = None, path: str | None = None) -> None:
        self.problems.append(Problem(self.source, message, rule=rule, path=path))

    def parse(self, doc: dict) -> ParsedRuleset:
        rid, version, title, owner, description = self.header(doc)
        self.levels, level_review = self.parse_levels(doc.get("levels"))
        self.frequencies = self.parse_frequencies(doc.get("review_frequencies"), level_review)
        self.signal_catalogue = self.parse_signal_catalogue(doc.get("signals"))
        self.actions = self.parse_actions(doc.get("actions"))
        rules = self.parse_rules(doc.get("rules"))
        return ParsedRuleset(rid, version, title, owner, description, self.levels, level_review,
                             self.frequencies, self.signal_catalogue, self.actions, rules)

    # -- the document's header and catalogues --------------------------------------------
    def header(self, doc: dict) -> tuple:
        for key in doc:
            if key not in TOP_KEYS:
                self.problem(f"unknown key {key!r}", path=str(key))
        rid, version = doc.get("id"), doc.get("version")
        if not isinstance(rid, str) or not NAME_RE.fullmatch(rid):
            self.problem("id must be lower_snake_case text", path="id")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
            self.problem("version must be a positive integer", path="version")
        title = str(doc.get("title") or "")
        owner = str(doc.get("owner") or "")
        if not title:
            self.problem("title is required", path="title")
        if not owner:
            self.problem("owner is required", path="owner")
        if doc.get("contract") != self.contract.key:
            self.problem(f"contract must name the contract it reads, here {self.contract.key!r}", path="contract")
        return rid, version, title, owner, str(doc.get("description") or "")

    def parse_levels(self, raw) -> tuple[tuple[str, ...], dict[str, str]]:
        if not isinstance(raw, dict) or not raw:
            self.problem("levels must map each warning level (lowest first) to {review: ...}", path="levels")
            return (), {}
        reviews = {}
        for name, body in raw.items():
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                self.problem(f"level name {name!r} must be lower_snake_case", path=f"levels.{name}")
                continue
            if not isinstance(body, dict) or not isinstance(body.get("review"), str):
                self.problem("a level needs review: <frequency>", path=f"levels.{name}")
                continue
            reviews[name] = body["review"]
        return tuple(name for name in raw if isinstance(name, str)), reviews

    def parse_frequencies(self, raw, level_review: dict[str, str]) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            self.problem("review_frequencies must list frequencies, least frequent first", path="review_frequencies")
            return ()
        for name, review in level_review.items():
            if review not in raw:
                self.problem(f"level {name}: review {review!r} is not in review_frequencies", path=f"levels.{name}")
        return tuple(raw)

    def parse_signal_catalogue(self, raw) -> dict[str, str] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.problem("signals must map each signal name to its description", path="signals")
            return None
        for name in raw:
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                self.problem(f"signal name {name!r} must be lower_snake_case", path=f"signals.{name}")
        return {str(k): str(v) for k, v in raw.items()}

    def parse_actions(self, raw) -> dict[str, ActionSpec]:
        out: dict[str, ActionSpec] = {}
        if not isinstance(raw, dict) or not raw:
            self.problem("actions must list the action catalogue", path="actions")
            return out
        for name, body in raw.items():
            spec = self.parse_action(name, body)
            if spec is not None:
                out[name] = spec
        for spec in out.values():
            for other in spec.overridden_by:
                if other not in out:
                    self.problem(f"overridden_by names unknown action {other!r}{did_you_mean(other, out)}",
                                 path=f"actions.{spec.name}.overridden_by")
        # overriding must not go round in a circle
        cycle = find_cycle({n: list(s.overridden_by) for n, s in out.items()})
        if cycle:
            self.problem("actions override each other in a circle: " + " -> ".join(cycle), path="actions")
        return out

    def parse_action(self, name, body) -> ActionSpec | None:
        where = f"actions.{name}"
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            self.problem("action names are lower_snake_case", path=where)
            return None
        body = body or {}
        if not isinstance(body, dict):
            self.problem("an action is a mapping (title, adverse, params, combine, overridden_by)", path=where)
            return None
        for key in body:
            if key not in ACTION_KEYS:
                self.problem(f"unknown key {key!r}", path=f"{where}.{key}")
        params: dict[str, ParamSpec] = {}
        raw_params = body.get("params") or {}
        if not isinstance(raw_params, dict):
            self.problem("params must map each parameter name to {type, min, max, values, required}",
                         path=f"{where}.params")
            raw_params = {}
        for pname, pbody in raw_params.items():
            if not isinstance(pname, str) or not NAME_RE.fullmatch(pname):
                self.problem("parameter names are lower_snake_case", path=f"{where}.params.{pname}")
                continue
            spec = self.parse_param(pbody, f"{where}.params.{pname}")
            if spec:
                params[pname] = spec
        combine = str(body.get("combine", "once"))
        m = COMBINE_RE.fullmatch(combine)
        mode, cparam = "once", None
        if not m or (m.group(1) == "once") != (m.group(2) is None):
            self.problem("combine must be once, max(param) or min(param)", path=f"{where}.combine")
        else:
            mode, cparam = m.group(1), m.group(2)
            if cparam is not None and (cparam not in params or params[cparam].kind not in ("integer", "decimal")):
                self.problem(f"combine {combine}: {cparam!r} is not a numeric parameter of {name}",
                             path=f"{where}.combine")
        over = body.get("overridden_by") or []
        if not isinstance(over, list) or not all(isinstance(o, str) for o in over):
            self.problem("overridden_by must be a list of action names", path=f"{where}.overridden_by")
            over = []
        follow_up = None
        if body.get("follow_up") is not None:
            follow_up = parse_follow_up(body["follow_up"], f"{where}.follow_up", self.levels, self.source,
                                        self.problems)
        return ActionSpec(name, str(body.get("title") or name.replace("_", " ")), bool(body.get("adverse")),
                          params, mode, cparam, tuple(map(str, over)), follow_up)

    def parse_param(self, body, where) -> ParamSpec | None:
        if not isinstance(body, dict) or body.get("type") not in PARAM_TYPES:
            self.problem(f"a parameter needs type: one of {', '.join(PARAM_TYPES)}", path=where)
            return None
        count = len(self.problems)
        for key in body:
            if key not in PARAM_KEYS:
                self.problem(f"unknown key {key!r}", path=f"{where}.{key}")
        bounds = {}
        for key in ("min", "max"):
            if key in body:
                try:
                    if isinstance(body[key], str):
                        raise ValueError("must be a number")
                    bounds[key] = bounded_decimal(body[key])
                except ValueError as exc:
                    self.problem(f"{key} {exc}", path=f"{where}.{key}")
        values = body.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                   for v in values):
            self.problem("values must be a list of texts or whole numbers", path=f"{where}.values")
            values = []
        if body["type"] == "enum" and not values:
            self.problem("an enum parameter needs values", path=where)
        required = body.get("required", False)
        if not isinstance(required, bool):
            self.problem("required must be true or false", path=f"{where}.required")
        if len(self.problems) > count:
            return None
        return ParamSpec(body["type"], required, bounds.get("min"), bounds.get("max"), tuple(values))

    # -- rules ------------------------------------------------------------------------
    def parse_rules(self, raw) -> tuple[Rule, ...]:
        if not isinstance(raw, list) or not raw:
            self.problem("rules must be a non-empty list", path="rules")
            return ()
        checker = Checker(self.contract)
        rules: list[Rule] = []
        seen: set[str] = set()
        for index, body in enumerate(raw):
            where = f"rules[{index}]"
            if not isinstance(body, dict):
                self.problem("a rule is a mapping", path=where)
                continue
            rid = body.get("id")
            if not isinstance(rid, str) or not ID_RE.fullmatch(rid):
                self.problem("rule id must be text of letters, digits, '-', '_' or '.'", path=f"{where}.id")
                continue
            if rid in seen:
                self.problem("rule id is used twice", rid, "id")
                continue
            seen.add(rid)
            rule = self.parse_rule(len(rules), rid, body, checker)
            if rule is not None:
                rules.append(rule)
        return tuple(rules)

    def parse_rule(self, index: int, rid: str, body: dict, checker: Checker) -> Rule | None:
        """One rule, or None (with its problems recorded) when anything in it is wrong."""
        count_before = len(self.problems)
        for key in body:
            if key not in RULE_KEYS:
                self.problem(f"unknown key {key!r}{did_you_mean(str(key), RULE_KEYS)}", rid, str(key))
        title = str(body.get("title") or "")
        if not title:
            self.problem("title is required", rid, "title")
        priority = body.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY:
            self.problem(f"priority must be an integer from -{MAX_PRIORITY:,} to {MAX_PRIORITY:,}", rid, "priority")
            priority = 0
        when = body.get("when")
        condition, paths = self.rule_condition(rid, when, checker)
        signals = self.rule_signals(rid, body.get("signals"))
        requests = self.rule_requests(rid, body.get("actions"))
        level, review = body.get("level"), body.get("review")
        if level is not None and level not in self.levels:
            self.problem(f"unknown level {level!r}; levels are {', '.join(self.levels)}", rid, "level")
        if review is not None and review not in self.frequencies:
            self.problem(f"unknown review frequency {review!r}; choose from {', '.join(self.frequencies)}",
                         rid, "review")
        self.rule_reason(rid, body.get("reason"))
        if not (signals or requests or level or review):
            self.problem("the rule does nothing: give it signals, actions, a level or a review", rid)
        if len(self.problems) > count_before or condition is None:
            return None
        pos: set = set()
        neg: set = set()
        polarity_signals(condition, True, pos, neg)
        return Rule(index=index, id=rid, title=title, clause=str(body.get("clause") or ""),
                    priority=priority, when=when, condition=condition, signals=tuple(signals),
                    actions=tuple(requests), level=level, review=review,
                    reason=body.get("reason"), description=str(body.get("description") or ""),
                    reads=frozenset(pos), negates=frozenset(neg), paths=frozenset(paths))

    def rule_condition(self, rid: str, when, checker: Checker) -> tuple[Node | None, frozenset]:
        try:
            condition = parse(when if isinstance(when, str) else "")
        except ConditionSyntaxError as exc:
            self.problem(f"condition {when!r}: {exc}", rid, "when")
            return None, frozenset()
        checked = checker.check_condition(condition)
        for tp in checked.problems:
            self.problem(tp.message, rid, tp.path or "when")
        for node in condition.walk():
            if isinstance(node, OverdueFollowUp):
                spec = self.actions.get(node.action)
                if spec is None:
                    self.problem(f"{node.text}: unknown action {node.action!r}{did_you_mean(node.action, self.actions)}",
                                 rid, "when")
                elif spec.follow_up is None:
                    self.problem(f"{node.text} is never true: action {node.action} declares no follow_up", rid, "when")
        return condition, frozenset(checked.paths)

    def rule_signals(self, rid: str, signals) -> list[str]:
        signals = signals or []
        if not isinstance(signals, list) or not all(isinstance(s, str) and NAME_RE.fullmatch(s) for s in signals):
            self.problem("signals must be a list of lower_snake_case names", rid, "signals")
            return []
        if self.signal_catalogue is not None:
            for s in signals:
                if s not in self.signal_catalogue:
                    self.problem(f"signal {s!r} is not in the signals catalogue"
                                 f"{did_you_mean(s, self.signal_catalogue)}", rid, "signals")
        return signals

    def rule_requests(self, rid: str, raw_actions) -> list[ActionRequest]:
        raw_actions = raw_actions or []
        if not isinstance(raw_actions, list):
            self.problem("actions must be a list", rid, "actions")
            return []
        requests = []
        for i, item in enumerate(raw_actions):
            req = self.parse_request(item, rid, f"actions[{i}]")
            if req:
                requests.append(req)
        return requests

    def rule_reason(self, rid: str, reason) -> None:
        if reason is None:
            return
        if not isinstance(reason, str):
            self.problem("reason must be text", rid, "reason")
            return
        for placeholder in PLACEHOLDER_RE.findall(reason):
            if self.contract.field(placeholder) is None:
                self.problem(f"reason: unknown field {{{placeholder}}}"
                             f"{did_you_mean(placeholder, [p for p, _ in self.contract.paths()])}", rid, "reason")

    def parse_request(self, item, rule_id: str, where: str) -> ActionRequest | None:
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = params or {}
            if not isinstance(params, dict):
                self.problem(f"parameters of {name} must be a mapping", rule_id, where)
                return None
        else:
            self.problem("an action is a name, or name: {parameters}", rule_id, where)
            return None
        spec = self.actions.get(name)
        if spec is None:
            self.problem(f"unknown action {name!r}: it is not in the action catalogue"
                         f"{did_you_mean(name, self.actions)}", rule_id, where)
            return None
        clean = {}
        for pname, value in params.items():
            pspec = spec.params.get(pname)
            if pspec is None:
                self.problem(f"action {name} has no parameter {pname!r}{did_you_mean(pname, spec.params)}",
                             rule_id, f"{where}.{pname}")
                continue
            error = check_param(pspec, value)
            if error:
                self.problem(f"action {name}: parameter {pname} {error}", rule_id, f"{where}.{pname}")
                continue
            clean[pname] = bounded_decimal(value) if pspec.kind == "decimal" else value
        for pname, pspec in spec.params.items():
            if pspec.required and pname not in params:
                self.problem(f"action {name} needs parameter {pname!r}", rule_id, where)
        return ActionRequest(name, tuple(sorted(clean.items())))


def check_param(spec: ParamSpec, value) -> str | None:
    """What is wrong with ``value`` for an action parameter of ``spec``, or None."""
    if spec.kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or \
                (spec.kind == "integer" and not isinstance(value, int)):
            return f"must be {'an integer' if spec.kind == 'integer' else 'a number'}"
        try:
            d = bounded_decimal(value)
        except ValueError as exc:
            return str(exc)
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
