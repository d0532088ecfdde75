"""A version's scenario tests, run as submission and approval run them (through the one
decision path, as trials), and for a failure the outcome beside what it expected."""

from __future__ import annotations

from app.engine import EngineError
from app.engine.scenarios import build_snapshot
from app.service import policies


def _got(ruleset, scenario: dict, bases: dict) -> dict | None:
    try:
        ev = policies.trial(ruleset, build_snapshot(scenario, bases)).evaluation
    except (EngineError, KeyError, IndexError, TypeError, ValueError):
        return None
    return {"level": ev.level, "review": ev.review_frequency, "actions": list(ev.action_names),
            "params": {a.action: dict(a.params) for a in ev.actions if a.params},
            "fired": list(ev.fired), "signals": list(ev.signals)}


# The keys a scenario can expect, in the order a reviewer reads them, and how the
# engine's diff line for each begins (its verdict says which of them differ).
_KEYS = (("level", "level:"), ("review", "review:"), ("actions", "actions:"), ("params", "params of"),
         ("fired", "fired:"), ("not_fired", "not_fired:"), ("signals", "signals:"))


def _rows(expected: dict, got: dict | None, diffs: list[str]) -> list[dict]:
    rows = []
    for key, starts in _KEYS:
        if key not in expected and key not in ("level", "actions", "fired"):
            continue
        rows.append({"key": key, "checked": key in expected,
                     "expected": expected.get(key), "got": (got or {}).get(key if key != "not_fired" else "fired"),
                     "differs": any(d.startswith(starts) for d in diffs)})
    return rows


def run(ruleset, scenarios: dict | None) -> dict:
    """policies.run_scenarios' results, each with ``expected`` and, for a failure, ``got``."""
    results = policies.run_scenarios(ruleset, scenarios)
    listed = [s for s in (scenarios or {}).get("scenarios") or []]
    bases = (scenarios or {}).get("bases") or {}
    for result, scenario in zip(results["results"], listed):
        result["expected"] = dict(scenario.get("expect") or {}) if isinstance(scenario, dict) else {}
        result["got"] = _got(ruleset, scenario, bases) if isinstance(scenario, dict) and not result["passed"] else None
        result["rows"] = _rows(result["expected"], result["got"], result["diffs"]) if result["got"] else []
    return results
