"""Small contracts and rulesets built in code, for engine tests."""
from __future__ import annotations

import copy

from app.engine import FactContract, Ruleset

CONTRACT = {
    "id": "t", "version": 1, "title": "test snapshot",
    "fields": {
        "customer": {"type": "object", "required": True, "fields": {
            "id": {"type": "string", "required": True},
            "segment": {"type": "enum", "values": ["mass", "affluent", "private_banking"]},
            "income": {"type": "decimal", "min": 0, "places": 2},
            "employed": {"type": "boolean"},
            "employer": {"type": "string"},
        }},
        "card": {"type": "object", "fields": {
            "limit": {"type": "decimal", "min": 0, "places": 2},
            "balance": {"type": "decimal", "min": 0, "places": 2},
            "utilization": {"type": "decimal", "min": 0, "max": 5, "places": 4},
            "dpd": {"type": "integer", "min": 0, "max": 3650},
        }},
        "overdue_6m": {"type": "integer", "min": 0, "max": 100},
        "as_of": {"type": "date"},
        "loans": {"type": "list", "items": {"type": "object", "fields": {
            "dpd": {"type": "integer", "min": 0, "max": 3650},
            "outstanding": {"type": "decimal", "min": 0, "places": 2},
            "restructured": {"type": "boolean"},
        }}},
        "tags": {"type": "list", "items": {"type": "string"}},
    },
}

ACTIONS = {
    "maintain": {"title": "Maintain"},
    "watchlist": {"title": "Add to watchlist"},
    "contact_customer": {"title": "Contact the customer"},
    "reduce_limit": {"title": "Reduce the limit", "adverse": True,
                     "params": {"percent": {"type": "integer", "min": 5, "max": 100, "required": True}},
                     "combine": "max(percent)", "overridden_by": ["freeze_card"]},
    "freeze_card": {"title": "Freeze the card", "adverse": True},
}


def contract(fields: dict | None = None) -> FactContract:
    doc = copy.deepcopy(CONTRACT)
    if fields is not None:
        doc["fields"] = fields
    return FactContract(doc, "schemas/t.v1.yaml")


def ruleset_doc(rules: list[dict], **extra) -> dict:
    doc = {
        "id": "t", "version": 1, "title": "Test policy", "owner": "Tests", "contract": "t@1",
        "levels": {"green": {"review": "annual"}, "yellow": {"review": "quarterly"},
                   "orange": {"review": "monthly"}, "red": {"review": "monthly"}},
        "review_frequencies": ["annual", "semiannual", "quarterly", "monthly"],
        "actions": copy.deepcopy(ACTIONS),
        "rules": rules,
    }
    doc.update(extra)
    return doc


def ruleset(rules: list[dict], c: FactContract | None = None, **extra) -> Ruleset:
    return Ruleset(ruleset_doc(rules, **extra), c or contract(), "rulesets/t.yaml")


def rule(rid: str, when: str, **kw) -> dict:
    body = {"id": rid, "title": kw.pop("title", f"rule {rid}"), "when": when}
    body.update(kw)
    if not any(k in body for k in ("signals", "actions", "level", "review")):
        body["actions"] = ["watchlist"]
    return body


def snap(**kw) -> dict:
    base = {"customer": {"id": "c1"}}
    base.update(kw)
    return base


def run_child(code: str, seconds: float = 30, memory_mb: int = 768) -> "subprocess.CompletedProcess":
    """Run ``code`` in a fresh Python with a time and memory bound, from the project root:
    a case that would hang or eat memory fails its test instead of stalling the suite."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    root = Path(__file__).resolve().parents[2]
    try:
        return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                              timeout=seconds, preexec_fn=limits)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {seconds} s:\n{code}") from None
