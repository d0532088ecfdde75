"""A rule-level diff between two versions of a ruleset document, for reviewers."""
from __future__ import annotations

from typing import Any

from .util import canonical_json

RULE_FIELDS = ("title", "clause", "priority", "when", "signals", "actions", "level", "review", "reason",
               "description")


def _rules(doc: dict) -> dict[str, dict]:
    return {r["id"]: r for r in doc.get("rules") or [] if isinstance(r, dict) and "id" in r}


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    return value


def diff_rulesets(old: dict, new: dict) -> dict:
    """Rules added, removed and changed (field by field, before and after), and other changes."""
    a, b = _rules(old), _rules(new)
    added = [{"rule": rid, "title": b[rid].get("title"), "when": _text(b[rid].get("when")),
              "actions": b[rid].get("actions", []), "level": b[rid].get("level"), "signals": b[rid].get("signals", [])}
             for rid in b if rid not in a]
    removed = [{"rule": rid, "title": a[rid].get("title"), "when": _text(a[rid].get("when")),
                "actions": a[rid].get("actions", []), "level": a[rid].get("level"), "signals": a[rid].get("signals", [])}
               for rid in a if rid not in b]
    changed = []
    for rid in a:
        if rid not in b:
            continue
        fields = {}
        for key in RULE_FIELDS:
            before, after = _text(a[rid].get(key)), _text(b[rid].get(key))
            if canonical_json(before) != canonical_json(after):
                fields[key] = {"before": before, "after": after}
        if fields:
            changed.append({"rule": rid, "title": b[rid].get("title"), "changes": fields})
    other = {}
    for key in sorted(set(old) | set(new)):
        if key in ("rules", "version"):
            continue
        if canonical_json(old.get(key)) != canonical_json(new.get(key)):
            other[key] = {"before": old.get(key), "after": new.get(key)}
    return {"from_version": old.get("version"), "to_version": new.get("version"),
            "added": added, "removed": removed, "changed": changed, "other": other,
            "unchanged": sum(1 for rid in a if rid in b) - len(changed)}
