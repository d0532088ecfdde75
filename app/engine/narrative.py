"""A decision told for a person: each final action with the rules behind it, the policy
clause, the values that triggered each rule and the threshold that would have avoided
it, in firing order.

Built from what a decision logs (its result and trail). Given the compiled ruleset the
decision was made under and the snapshot, each rule's condition is read again to name
the threshold of every comparison that held (``leaf_facts``); without them (a purged
or masked snapshot, a version that no longer compiles) the values from the trail are
told as they were logged.
"""
from __future__ import annotations


from .interpret import leaf_facts
from .ruleset import Ruleset
from .util import show

# What the value would have had to be for a comparison that held to fail.
_AVOIDED = {">=": "below", ">": "at or below", "<=": "above", "<": "at or above", "==": "other than",
            "!=": "equal to", "in": "not one of", "not in": "one of"}


_show = show


def _facts(firing: dict, ruleset: Ruleset | None, data: dict | None, signals: frozenset) -> list[dict]:
    if ruleset is not None and data is not None:
        try:
            rule = ruleset.rule(firing["rule"])
        except KeyError:
            rule = None
        if rule is not None:
            out = []
            for fact in leaf_facts(rule.condition, data, signals):
                if fact["subject"].startswith("signal "):
                    continue
                item = {"subject": fact["subject"], "actual": _show(fact["actual"])}
                if fact["op"] is not None:
                    item["op"] = fact["op"]
                    item["threshold"] = _show(fact["threshold"])
                    item["avoided_if"] = f"{fact['subject']} {_AVOIDED.get(fact['op'], 'not')} " \
                                         f"{_show(fact['threshold'])}"
                out.append(item)
            return out
    return [{"subject": path, "actual": _show(value)} for path, value in (firing.get("values") or {}).items()]


def _fact_text(fact: dict) -> str:
    if "op" not in fact:
        return f"{fact['subject']} was {fact['actual']}"
    return (f"{fact['subject']} was {fact['actual']} (the rule needs {fact['op']} {fact['threshold']}; "
            f"{fact['avoided_if']} would have avoided it)")


def _params(params: dict | None) -> str:
    return " (" + ", ".join(f"{k} {_show(v)}" for k, v in params.items()) + ")" if params else ""


def explain(result: dict, trail: list[dict], ruleset: Ruleset | None = None, data: dict | None = None) -> dict:
    """The narrative of one decision: ``paragraphs`` to read, and the same as structure
    (``actions``, each with its ``rules`` and the rules whose signals they relied on)."""
    signals = frozenset(result.get("signals") or ())
    by_rule = {f["rule"]: f for f in trail}
    explained: dict[str, dict] = {}

    def rule_entry(rule_id: str, seen: frozenset) -> dict:
        firing = by_rule.get(rule_id)
        if firing is None:
            return {"rule": rule_id, "fired": False}
        if rule_id not in explained:
            explained[rule_id] = {
                "rule": rule_id, "title": firing.get("title"), "clause": firing.get("clause"),
                "order": firing.get("order"), "condition": firing.get("condition"),
                "facts": _facts(firing, ruleset, data, signals)}
        entry = dict(explained[rule_id])
        # The rules that derived the signals this one read, before it, in firing order.
        sources = [f["rule"] for f in trail if rule_id in (f.get("used_by") or ()) and f["rule"] not in seen]
        entry["relied_on"] = [
            {"signals": [s for s in by_rule[src].get("signals", ()) if s in (firing.get("reads_signals") or ())],
             **rule_entry(src, seen | {rule_id})} for src in sources]
        return entry

    actions = []
    for action in result.get("actions") or ():
        rules = sorted(action.get("rules") or (), key=lambda r: (by_rule.get(r) or {}).get("order") or 0)
        actions.append({"action": action["action"], "title": action.get("title") or action["action"],
                        "params": action.get("params") or {}, "adverse": bool(action.get("adverse")),
                        "reason": action.get("reason"), "rules": [rule_entry(r, frozenset()) for r in rules]})
    level, review = result.get("level"), result.get("review_frequency")
    level_rules = [f["rule"] for f in trail if level is not None and f.get("level") == level]
    review_rules = [f["rule"] for f in trail if review is not None and f.get("review") == review]

    paragraphs = []
    head = f"Warning level {level or 'none'}"
    head += f" (set by {', '.join(level_rules)})" if level_rules else ""
    head += f", review {review or 'not set'}"
    head += f" (set by {', '.join(review_rules)})" if review_rules else ""
    fired = [f["rule"] for f in trail]
    paragraphs.append(head + ". " + (f"{len(fired)} rule(s) fired, in this order: {', '.join(fired)}."
                                     if fired else "No rule fired."))
    if not actions:
        paragraphs.append("No action was taken.")
    for n, action in enumerate(actions, 1):
        text = f"{n}. {action['title']}{_params(action['params'])}"
        text += " - an adverse action" if action["adverse"] else ""
        text += ". " + " ".join(_rule_text(r, "Because of") for r in action["rules"])
        paragraphs.append(text)
    for item in result.get("overridden") or ():
        paragraphs.append(f"{item['action']}{_params(item.get('params'))}, recommended by "
                          f"{', '.join(item.get('rules') or ())}, was dropped: {item.get('why')}"
                          f" (by {', '.join(item.get('by_rules') or ())}).")
    findings = list(result.get("data_quality") or ())
    if findings:
        paragraphs.append(data_quality_text(findings))
    return {"paragraphs": paragraphs, "data_quality": findings, "level": {"level": level, "rules": level_rules},
            "review_frequency": {"review_frequency": review, "rules": review_rules}, "actions": actions,
            "overridden": list(result.get("overridden") or ())}


def data_quality_text(findings: list[dict]) -> str:
    """One sentence naming each value that failed its plausibility check."""
    named = "; ".join(f"{f['field']} was {_show(f['value'])}, expected {f['expectation']}" for f in findings)
    return f"Data quality: {named}. The rules read {'this value' if len(findings) == 1 else 'these values'} " \
           f"as missing."


def _rule_text(entry: dict, lead: str) -> str:
    if not entry.get("order"):
        return f"{lead} rule {entry['rule']} (not in the trail)."
    clause = f", clause {entry['clause']}" if entry.get("clause") else ""
    text = f"{lead} rule {entry['rule']} \"{entry['title']}\"{clause}, which fired {_ordinal(entry['order'])}"
    facts = entry.get("facts") or []
    text += (": " + "; ".join(_fact_text(f) for f in facts) + ".") if facts else "."
    for source in entry.get("relied_on") or ():
        named = ", ".join(source.get("signals") or ()) or "a signal"
        text += " " + _rule_text(source, f"It relied on {named}, derived by")
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def search_text(result: dict, trail: list[dict]) -> str:
    """The words a decision is found by: its narrative, and each fired rule's id, title,
    clause, condition and signals, and each action's reason."""
    parts = explain(result, trail)["paragraphs"]
    for firing in trail:
        parts.append(" ".join(str(x) for x in (firing.get("rule"), firing.get("title"), firing.get("clause"),
                                                firing.get("condition"), " ".join(firing.get("signals") or ()))
                              if x))
    for action in result.get("actions") or ():
        parts.append(f"{action.get('action')} {action.get('reason') or ''}")
    return "\n".join(parts)
