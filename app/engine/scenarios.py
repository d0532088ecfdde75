"""Scenario tests shipped beside each ruleset (``<id>.scenarios.yaml``).

Like ``opa test``: each scenario is a snapshot and what the policy must decide for it.
The runner reports pass/fail per scenario, a diff for each failure, and the rules that no
scenario fires.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from collections.abc import Callable
from typing import Any

from .errors import EngineError, SnapshotInvalid
from .followup import FOLLOW_UP
from .library import Library, read_yaml
from .result import Evaluation
from .ruleset import Ruleset

EXPECT_KEYS = {"fired", "not_fired", "actions", "params", "level", "review", "signals", "error", "data_quality"}


@dataclass
class ScenarioResult:
    name: str
    passed: bool
    diffs: list[str] = field(default_factory=list)
    fired: tuple[str, ...] = ()


@dataclass
class ScenarioReport:
    file: str
    ruleset: str
    results: list[ScenarioResult] = field(default_factory=list)
    unfired_rules: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(r.passed for r in self.results)


def set_path(doc: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(part)]
            continue
        cur = cur.setdefault(part, {})
    if isinstance(cur, list):
        cur[int(parts[-1])] = value
    else:
        cur[parts[-1]] = value


def unset_path(doc: dict, dotted: str) -> None:
    parts = dotted.split(".")
    cur: Any = doc
    for part in parts[:-1]:
        cur = cur[int(part)] if isinstance(cur, list) else cur.get(part, {})
    if isinstance(cur, dict):
        cur.pop(parts[-1], None)


def _norm(value):
    """YAML numbers as the API would see them: decimals exact."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def build_snapshot(scenario: dict, bases: dict) -> dict:
    if "snapshot" in scenario:
        snap = copy.deepcopy(scenario["snapshot"])
    else:
        snap = copy.deepcopy(bases[scenario["base"]])
    for path in scenario.get("unset") or []:
        unset_path(snap, path)
    for path, value in (scenario.get("set") or {}).items():
        set_path(snap, path, copy.deepcopy(value))
    if scenario.get("follow_up") is not None:
        # the customer's follow-up facts ({overdue: [action, ...]}), as a decision is given them
        snap[FOLLOW_UP] = copy.deepcopy(scenario["follow_up"])
    return _norm(snap)


def _set_diff(label: str, expected, actual) -> str | None:
    e, a = set(expected), set(actual)
    if e == a:
        return None
    parts = [f"{label}: expected {sorted(e)}, got {sorted(a)}"]
    if e - a:
        parts.append(f"missing {sorted(e - a)}")
    if a - e:
        parts.append(f"unexpected {sorted(a - e)}")
    return "; ".join(parts)


def check_scenario(ruleset: Ruleset, scenario: dict, bases: dict,
                   evaluate: Callable[[dict], Evaluation] | None = None) -> ScenarioResult:
    """Run one scenario and compare with what it expects. ``evaluate(snapshot)`` makes
    the evaluation (``explain="full"``); by default ``ruleset.evaluate``."""
    name = str(scenario.get("name") or "(unnamed)")
    expect = scenario.get("expect") or {}
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        return ScenarioResult(name, False, [f"unknown expect key(s): {', '.join(sorted(unknown))}"])
    try:
        snapshot = build_snapshot(scenario, bases)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return ScenarioResult(name, False, [f"cannot build the snapshot: {exc!r}"])
    try:
        ev = evaluate(snapshot) if evaluate is not None else ruleset.evaluate(snapshot, explain="full")
    except SnapshotInvalid as exc:
        if "error" in expect:
            got = sorted(e["path"] for e in exc.errors)
            want = sorted(expect["error"]) if isinstance(expect["error"], list) else [expect["error"]]
            ok = got == want
            return ScenarioResult(name, ok, [] if ok else [f"error paths: expected {want}, got {got}"])
        return ScenarioResult(name, False, [f"snapshot breaks the contract: {exc}"])
    diffs: list[str] = []
    if "error" in expect:
        diffs.append(f"expected a validation error at {expect['error']}, but the snapshot was accepted")
    if "fired" in expect:
        d = _set_diff("fired", expect["fired"] or [], ev.fired)
        if d:
            diffs.append(d)
            reasons = {n.rule: n.failed for n in ev.not_fired or ()}
            for rid in sorted(set(expect["fired"] or []) - set(ev.fired)):
                if rid in reasons:
                    f = reasons[rid]
                    diffs.append(f"  {rid} did not fire: {f.get('condition')} (actual {f.get('actual')!s})")
    if "not_fired" in expect:
        bad = sorted(set(expect["not_fired"] or []) & set(ev.fired))
        if bad:
            diffs.append(f"not_fired: {bad} fired")
    if "actions" in expect:
        d = _set_diff("actions", expect["actions"] or [], ev.action_names)
        if d:
            diffs.append(d)
    for action, params in (expect.get("params") or {}).items():
        got = next((dict(a.params) for a in ev.actions if a.action == action), None)
        want = _norm(params)
        if got is None or any(Decimal(str(got.get(k))) != Decimal(str(v)) if isinstance(v, (int, Decimal))
                              else got.get(k) != v for k, v in want.items()):
            diffs.append(f"params of {action}: expected {params}, got {got}")
    if "level" in expect and expect["level"] != ev.level:
        diffs.append(f"level: expected {expect['level']}, got {ev.level} (rules {list(ev.level_rules)})")
    if "review" in expect and expect["review"] != ev.review_frequency:
        diffs.append(f"review: expected {expect['review']}, got {ev.review_frequency}")
    if "data_quality" in expect:
        d = _set_diff("data_quality", expect["data_quality"] or [], [f.field for f in ev.data_quality])
        if d:
            diffs.append(d)
    if "signals" in expect:
        d = _set_diff("signals", expect["signals"] or [], ev.signals)
        if d:
            diffs.append(d)
    return ScenarioResult(name, not diffs, diffs, ev.fired)


def run_file(library: Library, path: Path) -> ScenarioReport:
    doc = read_yaml(path)
    report = ScenarioReport(str(path), "?")
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios"), list):
        report.problems.append("a scenarios file needs 'ruleset' and a list of 'scenarios'")
        return report
    ref = str(doc.get("ruleset", ""))
    rid, _, ver = ref.partition("@")
    report.ruleset = ref
    try:
        ruleset = library.ruleset(rid, int(ver) if ver else None)
    except (EngineError, ValueError) as exc:
        report.problems.append(f"ruleset {ref!r}: {exc}")
        return report
    bases = doc.get("bases") or {}
    fired: set[str] = set()
    for scenario in doc["scenarios"]:
        if not isinstance(scenario, dict):
            report.problems.append("each scenario is a mapping")
            continue
        result = check_scenario(ruleset, scenario, bases)
        report.results.append(result)
        fired.update(result.fired)
    report.unfired_rules = [r.id for r in ruleset.rules if r.id not in fired]
    return report


def scenario_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.glob("*.scenarios.yaml")))
        elif p.name.endswith(".scenarios.yaml"):
            out.append(p)
        else:
            sibling = p.with_name(p.name[:-len(".yaml")] + ".scenarios.yaml")
            if sibling.exists():
                out.append(sibling)
    return out
