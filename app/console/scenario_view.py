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


def run(ruleset, scenarios: dict | None) -> dict:
    """policies.run_scenarios' results, each with ``expected`` and, for a failure, ``got``."""
    results = policies.run_scenarios(ruleset, scenarios)
    listed = [s for s in (scenarios or {}).get("scenarios") or []]
    bases = (scenarios or {}).get("bases") or {}
    for result, scenario in zip(results["results"], listed):
        result["expected"] = dict(scenario.get("expect") or {}) if isinstance(scenario, dict) else {}
        result["got"] = _got(ruleset, scenario, bases) if isinstance(scenario, dict) and not result["passed"] else None
    return results
