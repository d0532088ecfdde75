"""The one JSON codec: how every part of Vigil writes and reads JSON.

* A decimal is written as a JSON string holding the number in plain positional
  notation (``Decimal("8E+3")`` is ``"8000"``, ``Decimal("8000.00")`` is ``"8000.00"``):
  a fact contract takes a decimal as such a string, money never passes through a
  float, and what is logged evaluates the same when read back.
* A date is ``YYYY-MM-DD``; a time with a zone is UTC, microseconds and ``Z``
  (``2026-04-01T06:00:00.000000Z``), so text order is time order.
* ``dumps`` keeps key order (it carries meaning: warning levels are listed lowest
  first) and writes compact UTF-8 text; ``canonical`` sorts keys, for hashing and for
  comparing two documents.
* ``loads`` reads a number with a fraction or an exponent as a Decimal.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

__all__ = ["canonical", "dumps", "dumps_any", "loads", "plain", "text_of"]


def text_of(value: Any) -> Any:
    """The JSON-native form of one value that JSON has no type for; TypeError otherwise."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not written as JSON")


def _compact(sort_keys: bool):
    """The C encoder of compact UTF-8 JSON, made once: ``json.dumps`` with any option set
    makes a new encoder for every call, which costs more than encoding a small document.
    It keeps no state between calls (no circular-reference markers: what is encoded here
    is parsed JSON or built from it, and a document nested too deep is a RecursionError),
    so threads share it. None where the C accelerator is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    return make(None, text_of, json.encoder.encode_basestring, None, ":", ",", sort_keys, False, True)


_DUMPS = _compact(False)
_CANONICAL = _compact(True)


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Compact JSON text, keys in their order (``indent``: laid out for people)."""
    if indent is None and _DUMPS is not None:
        return "".join(_DUMPS(value, 0))
    return json.dumps(value, ensure_ascii=False, separators=(",", ": ") if indent is not None else (",", ":"),
                      indent=indent, default=text_of)


def dumps_any(value: Any) -> str:
    """``dumps`` for text that only people read (log lines): what JSON cannot hold is
    written as its ``str``."""
    return _ANY.encode(value)


def _text_or_str(value: Any) -> Any:
    try:
        return text_of(value)
    except TypeError:
        return str(value)


_ANY = json.JSONEncoder(ensure_ascii=False, default=_text_or_str)


def canonical(value: Any) -> str:
    """The canonical text of a value: compact, keys sorted. Equal values (a decimal
    however it was written, a date as text or as a date) give the same text."""
    if _CANONICAL is not None:
        return "".join(_CANONICAL(value, 0))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=text_of)


def plain(value: Any) -> Any:
    """A copy made only of JSON types (decimals and dates as ``dumps`` writes them);
    tuples become lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return text_of(value)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """Read JSON; a number with a fraction or an exponent becomes an exact Decimal, and
    NaN and Infinity are refused (ValueError)."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constants)
