"""A version's scenario tests, run as submission and approval run them (in a checker,
through the one decision path, as trials), and for a failure the outcome beside what it
expected."""

from __future__ import annotations

from app.service import policies

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


def run(db, stored) -> dict:
    """policies.scenario_outcomes' results, each with ``expected`` and, for a failure, ``got``."""
    results = policies.scenario_outcomes(db, stored)
    listed = [s for s in (stored.scenarios or {}).get("scenarios") or []]
    for result, scenario in zip(results["results"], listed):
        result["expected"] = dict(scenario.get("expect") or {}) if isinstance(scenario, dict) else {}
        result["rows"] = _rows(result["expected"], result["got"], result["diffs"]) if result.get("got") else []
    return results
