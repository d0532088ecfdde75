"""Bounds on every number Vigil reads, checked before any arithmetic.

A JSON or YAML number costs nothing to read and can cost minutes to use: ``1e1000000``
as an integer is a million digits, and a decimal of 30 digits cannot be rounded at the
28 digits Python's decimals work with. Every number that enters (a snapshot, a request
body, a policy document) is checked here first; no number Vigil handles comes near
these bounds (contracts keep decimals to 15 significant digits, integers below 2**53).

The same walk finds text that is not Unicode: JSON can write half of a surrogate pair
(``"\\udc80"``), which Python reads into a string that nothing can store or answer.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DIGITS = 28        # significant digits, as Python's default decimal context
MAX_PLACES = 28        # digits after the point
BOUND = 10 ** 28       # magnitude
MAX_TEXT = 64          # characters of a number written as text

LIMIT = f"at most {MAX_DIGITS} significant digits, {MAX_PLACES} decimal places and a magnitude below 1e28"


def number_problem(value: Any) -> str | None:
    """What is wrong with a number (int, float, Decimal or numeric text), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        bits = value.bit_length()
        if bits > 93 and (bits > 100 or abs(value) >= BOUND):
            return f"the number is too large ({LIMIT})"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "the number is not finite"
        value = Decimal(repr(value))
    if isinstance(value, str):
        if len(value.strip()) > MAX_TEXT:
            return f"the number is too long ({LIMIT})"
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            return "not a number"
    if not isinstance(value, Decimal):
        return None
    if not value.is_finite():
        return "the number is not finite"
    _sign, digits, exponent = value.as_tuple()
    if len(digits) > MAX_DIGITS or exponent < -MAX_PLACES or value.adjusted() >= 28:
        return f"the number {_short(value)} is out of range ({LIMIT})"
    return None


def bounded_decimal(value: Any) -> Decimal:
    """``value`` (int, float, Decimal or numeric text) as a Decimal; ValueError (with a
    message saying what is allowed) when it is not a number or is out of bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("must be a number")
    problem = number_problem(value)
    if problem:
        raise ValueError(problem)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value.strip() if isinstance(value, str) else value)


def lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds half of a UTF-16 surrogate pair on its own (JSON's
    ``"\\ud800"``): no UTF-8 can encode it, so neither the log, nor an index, nor an
    answer could hold it."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def shown_path(key: str) -> str:
    """A key as it can be named in an error: a lone surrogate written as its escape."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8") if lone_surrogate(key) else key


TEXT_PROBLEM = "Not valid Unicode: a lone UTF-16 surrogate (\\ud800-\\udfff) is not a character."


def find_unbounded(document: Any, *, strings: bool = False) -> list[dict]:
    """``[{"path", "message"}]`` for every number in a parsed JSON or YAML document
    that breaks the bounds, paths dotted (list items by index). With ``strings``, also
    for every key and text that holds a lone surrogate (see ``lone_surrogate``)."""
    out: list[dict] = []
    todo: list[tuple[str, Any]] = [("", document)]
    while todo:
        path, node = todo.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                key = str(k)
                if strings and lone_surrogate(key):
                    key = shown_path(key)
                    out.append({"path": f"{path}.{key}" if path else key, "message": TEXT_PROBLEM})
                    continue
                todo.append((f"{path}.{key}" if path else key, v))
        elif isinstance(node, list):
            todo.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(node))
        elif isinstance(node, str):
            if strings and lone_surrogate(node):
                out.append({"path": path or "$", "message": TEXT_PROBLEM})
        elif isinstance(node, (int, float, Decimal)) and not isinstance(node, bool):
            problem = number_problem(node)
            if problem:
                out.append({"path": path or "$", "message": problem[0].upper() + problem[1:] + "."})
    return sorted(out, key=lambda e: e["path"])


def _short(value: Decimal) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:12] + "..." + text[-8:]
