"""Where a ruleset's problems are in its YAML text, for the editor to mark them.

The engine names a problem by rule id and path (a key of the rule, a document path such
as ``levels.orange``, or a contract field a condition reads); the YAML parser's node
positions turn those into line numbers. Nothing here checks the ruleset: the problems
come from the same compile the API runs.
"""

from __future__ import annotations

import yaml

# libyaml's parser when PyYAML has it: the same nodes and marks, several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mapping_get(node, key: str):
    """(key node, value node) of a YAML mapping node, or (None, None)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None, None


def _walk(node, parts: list[str]):
    """The deepest (key node or value node) reachable along a dotted document path."""
    found = None
    for part in parts:
        if isinstance(node, yaml.SequenceNode):
            if not part.isdigit() or int(part) >= len(node.value):
                break
            node = node.value[int(part)]
            found = node
            continue
        key, value = _mapping_get(node, part)
        if key is None:
            break
        found, node = key, value
    return found


def _rule_node(root, rule_id: str):
    _, rules = _mapping_get(root, "rules")
    if isinstance(rules, yaml.SequenceNode):
        for item in rules.value:
            _, ident = _mapping_get(item, "id")
            if isinstance(ident, yaml.ScalarNode) and ident.value == rule_id:
                return item
    return None


def _line_of_text(text: str, start: int, needle: str) -> int | None:
    """The line (1-based) of ``needle`` at or after character ``start``."""
    at = text.find(needle, start)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def locate(text: str, problems: list[dict]) -> list[dict]:
    """Each problem with ``line`` (1-based) where it can be placed in ``text``; a problem
    already carrying a line (a YAML syntax error) keeps it."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        root = None
    out = []
    for problem in problems:
        problem = dict(problem)
        if problem.get("line") is None and root is not None:
            problem["line"] = _place(text, root, problem)
        out.append(problem)
    return out


def _place(text: str, root, problem: dict) -> int | None:
    path = problem.get("path") or ""
    rule = problem.get("rule")
    parts = [p for p in path.split(".") if p]
    if rule:
        node = _rule_node(root, rule)
        if node is None:
            return None
        if parts:
            found = _walk(node, parts)
            if found is not None:
                return found.start_mark.line + 1
            # A contract field read by the condition: the line of the `when` that names it.
            key, value = _mapping_get(node, "when")
            if key is not None:
                start = sum(len(line) + 1 for line in text.split("\n")[:value.start_mark.line])
                line = _line_of_text(text, start, parts[-1])
                if line is not None and line <= value.end_mark.line + 1:
                    return line
                return key.start_mark.line + 1
        _, ident = _mapping_get(node, "id")
        return (ident or node).start_mark.line + 1
    if parts:
        found = _walk(root, parts)
        if found is not None:
            return found.start_mark.line + 1
    return None
