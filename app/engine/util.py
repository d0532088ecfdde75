"""Small helpers shared by the engine modules."""
from __future__ import annotations

import difflib
import hashlib
from decimal import Decimal
from typing import Any

from app.core import codec

canonical_json = codec.canonical


ORDERED_MAPPINGS = ("levels",)


def canonical_hash(document: Any) -> str:
    """sha256 of the document with keys sorted, except mappings whose order means
    something (the warning levels, lowest first), which are hashed as ordered pairs."""
    if isinstance(document, dict) and any(isinstance(document.get(k), dict) for k in ORDERED_MAPPINGS):
        document = dict(document)
        for key in ORDERED_MAPPINGS:
            if isinstance(document.get(key), dict):
                document[key] = [[k, v] for k, v in document[key].items()]
    return "sha256:" + hashlib.sha256(canonical_json(document).encode()).hexdigest()


json_safe = codec.plain  # decimals and dates as the codec writes them; containers copied


def show(value: Any) -> str:
    """A value as a sentence quotes it: decimals as written, dates ISO, missing as such."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if value is None:
        return "missing"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def did_you_mean(name: str, choices) -> str:
    """"; did you mean 'x'?" for the closest of ``choices``, or nothing."""
    if not isinstance(name, str):
        return ""
    best = difflib.get_close_matches(name, [c for c in choices if isinstance(c, str)], n=1, cutoff=0.6)
    return f"; did you mean {best[0]!r}?" if best else ""


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A circle in ``graph`` (node -> the nodes it points to) as [a, b, ..., a], or None.
    Iterative, so a chain of any length is followed."""
    white, grey, black = 0, 1, 2
    colour = {n: white for n in graph}
    for start in sorted(graph):
        if colour[start] != white:
            continue
        colour[start] = grey
        path, nexts = [start], [iter(graph.get(start, ()))]
        while path:
            m = next(nexts[-1], None)
            if m is None:
                colour[path.pop()] = black
                nexts.pop()
            elif colour.get(m, black) == grey:
                return path[path.index(m):] + [m]
            elif colour.get(m) == white:
                colour[m] = grey
                path.append(m)
                nexts.append(iter(graph.get(m, ())))
    return None
