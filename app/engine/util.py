"""Small helpers shared by the engine modules."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from decimal import Decimal
from typing import Any


def _default(value: Any):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def canonical_json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


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


def json_safe(value: Any) -> Any:
    """Decimals become strings, dates ISO strings; containers are copied."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


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
