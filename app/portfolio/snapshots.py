"""Turning one input record into a validated fact snapshot, or a reason why not.

A record is a JSON Lines line (bytes) or a CSV record (its cells). ``Decoder`` parses it
and validates the result against the ruleset's fact contract. Bad records raise
``RowError`` with a stable ``reason`` and, for contract errors, every problem with its
dotted path, the same details the API answers with.

Validation has a fast path. ``FactContract.validate`` (marshmallow) costs more than the
evaluation itself, and a portfolio review is almost all valid snapshots, so
``FastContract`` checks a snapshot with plain functions compiled from the same field
specs. It only ever answers "valid, and this is the validated snapshot": on anything it
is not sure of (a wrong type, a value out of range, an unknown field, a float) it hands
the snapshot to ``FactContract.validate``, which gives the result or the official error
messages. tests/portfolio/test_snapshots.py checks the two agree on valid and broken
snapshots alike.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from app.engine import FactContract, SnapshotInvalid
from app.engine.contract import MAX_INTEGER, FieldSpec

# These mirror app.engine.contract's ExactDecimal and IsoDate; the fast path must accept
# nothing the contract would refuse.
_NUMBER_RE = re.compile(r"^-?(\d+)(\.\d+)?$")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RowError(Exception):
    """One input record that cannot be evaluated; the review goes on without it."""

    def __init__(self, reason: str, message: str, details: list[dict] | None = None, *,
                 customer_id: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details or []
        self.customer_id = customer_id

    def to_dict(self) -> dict:
        return {"reason": self.reason, "message": self.message, "details": self.details}


@dataclass(frozen=True)
class Unreadable:
    """A record the reader could not split into cells (a CSV quoting error, say)."""

    message: str


class InputError(Exception):
    """The input as a whole cannot be read (a CSV header naming unknown fields, say)."""


# -- the fast path ------------------------------------------------------------------------

class _Unsure(Exception):
    pass


_UNSURE = _Unsure()


def _compile(spec: FieldSpec) -> Callable[[Any], Any]:
    kind = spec.kind
    if kind == "integer":
        lo, hi = int(spec.min), int(spec.max)

        def check_integer(v):
            if type(v) is not int or v < lo or v > hi or abs(v) > MAX_INTEGER:
                raise _UNSURE
            return v
        return check_integer
    if kind == "decimal":
        lo, hi, places = spec.min, spec.max, spec.places
        quantum = Decimal(1).scaleb(-places)

        def check_decimal(v):
            t = type(v)
            if t is str:
                v = v.strip()
                if not _NUMBER_RE.match(v):
                    raise _UNSURE
                d = Decimal(v)
            elif t is Decimal:
                d = v
            elif t is int:
                d = Decimal(v)
            else:
                raise _UNSURE
            if not d.is_finite():
                raise _UNSURE
            if d.as_tuple().exponent < -places:
                if d != d.quantize(quantum, rounding=decimal.ROUND_DOWN):
                    raise _UNSURE
                d = d.quantize(quantum)
            if d < lo or d > hi:
                raise _UNSURE
            return d
        return check_decimal
    if kind == "boolean":
        def check_boolean(v):
            if type(v) is not bool:
                raise _UNSURE
            return v
        return check_boolean
    if kind == "string":
        longest = spec.max_length

        def check_string(v):
            if type(v) is not str or (longest is not None and len(v) > longest):
                raise _UNSURE
            return v
        return check_string
    if kind == "enum":
        allowed = frozenset(spec.values)

        def check_enum(v):
            if type(v) is not str or v not in allowed:
                raise _UNSURE
            return v
        return check_enum
    if kind == "date":
        def check_date(v):
            if type(v) is not str or not _DATE_RE.fullmatch(v):
                raise _UNSURE
            return _dt.date.fromisoformat(v)
        return check_date
    if kind == "object":
        fields_ = [(name, _compile(sub), sub.required) for name, sub in spec.fields.items()]
        names = frozenset(spec.fields)

        def check_object(v):
            if type(v) is not dict or not names.issuperset(v):
                raise _UNSURE
            out = {}
            for name, check, required in fields_:
                if name in v:
                    value = v[name]
                    if value is None:
                        raise _UNSURE
                    out[name] = check(value)
                elif required:
                    raise _UNSURE
            return out
        return check_object
    if kind == "list":
        check_item = _compile(spec.items)
        most = spec.max_items

        def check_list(v):
            if type(v) is not list or len(v) > most:
                raise _UNSURE
            return [check_item(item) for item in v]
        return check_list
    raise AssertionError(kind)


class FastContract:
    """``FactContract.validate`` with a fast path for snapshots that are plainly valid."""

    def __init__(self, contract: FactContract):
        self.contract = contract
        self._check = _compile(FieldSpec(kind="object", required=True, fields=contract.fields))

    def validate(self, snapshot: Any) -> dict:
        """The validated snapshot, exactly as ``FactContract.validate`` returns it; raises
        ``SnapshotInvalid`` with the contract's own messages."""
        try:
            return self._check(snapshot)
        except Exception:  # _Unsure, or anything the fast path did not foresee
            return self.contract.validate(snapshot)


# -- JSON Lines ---------------------------------------------------------------------------

def parse_json(raw: bytes | str) -> Any:
    """One JSON Lines record. Numbers with a fraction are kept as exact decimals."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise RowError("invalid_json", f"Not UTF-8 text (byte {exc.start + 1}).") from None
    try:
        return json.loads(text.rstrip("\r\n"), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise RowError("invalid_json", f"Not valid JSON: {exc.msg} at column {exc.colno}.") from None
    except RecursionError:
        raise RowError("invalid_json", "Not valid JSON: nested too deeply.") from None


# -- CSV ----------------------------------------------------------------------------------

@dataclass
class _Node:
    """Part of the CSV layout: an object (fields), a list (items by index) or a cell."""

    spec: FieldSpec
    column: int | None = None          # a cell: the column it is read from
    as_json: bool = False              # an object or list given whole, as JSON, in one cell
    fields: dict[str, "_Node"] = field(default_factory=dict)
    items: dict[int, "_Node"] = field(default_factory=dict)


class CsvLayout:
    """How CSV columns map onto the contract.

    Each header names a contract path with dots (``credit_report.other_banks.worst_dpd``);
    list items take their index (``loans.0.dpd``, ``loans.1.dpd``). A column may also name
    an object or a list, and then holds it as JSON (``loans`` = ``[{...}, {...}]``).
    Cells are typed by the contract; an empty cell leaves the field out. An object is
    present when any cell under it is filled; a list given by index columns is present
    whenever its parent is (empty when all its items' cells are empty).
    """

    def __init__(self, header: list[str], contract: FactContract):
        self.header = header
        self.root = _Node(FieldSpec(kind="object", required=True, fields=contract.fields))
        problems = []
        seen: dict[str, int] = {}
        for column, name in enumerate(header):
            name = name.strip()
            if name in seen:
                problems.append(f"column {column + 1} {name!r} repeats column {seen[name] + 1}")
                continue
            seen[name] = column
            problem = self._place(name, column, contract)
            if problem:
                problems.append(f"column {column + 1} {name!r}: {problem}")
        if problems:
            raise InputError("CSV header: " + "; ".join(problems))
        self.width = len(header)

    def _place(self, name: str, column: int, contract: FactContract) -> str | None:
        parts = name.split(".")
        node = self.root
        walked = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            spec = node.spec
            if spec.kind not in ("object", "list"):
                return f"{'.'.join(walked)} is a {spec.kind}, it has no parts"
            if node.as_json:
                return f"{'.'.join(walked)} is already given whole by another column"
            if spec.kind == "list":
                if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
                    return f"{'.'.join(walked)} is a list: the next part must be an item number (0, 1, ...)"
                index = int(part)
                child = node.items.get(index)
                if child is None:
                    child = node.items[index] = _Node(spec.items)
            elif spec.kind == "object":
                sub = spec.fields.get(part)
                if sub is None:
                    hint = contract.suggest(".".join(walked + [part]))
                    return "the contract has no such field" + (f" (did you mean {hint}?)" if hint else "")
                child = node.fields.get(part)
                if child is None:
                    child = node.fields[part] = _Node(sub)
            walked.append(part)
            node = child
            if last:
                if node.fields or node.items or node.column is not None or node.as_json:
                    return "overlaps another column"
                if node.spec.kind in ("object", "list"):
                    node.as_json = True
                node.column = column
        return None

    def decode(self, cells: list[str]) -> dict:
        """The snapshot one CSV record describes (typed, not yet validated)."""
        if len(cells) != self.width:
            raise RowError("invalid_csv", f"Expected {self.width} cells, found {len(cells)}.")
        return self._object(self.root, cells, "")[0]

    def _object(self, node: _Node, cells: list[str], prefix: str) -> tuple[dict, bool]:
        """The object and whether any cell under it is filled (else it is absent)."""
        out: dict = {}
        filled = False
        for name, child in node.fields.items():
            path = prefix + name
            if child.column is not None:
                value = _cell(child, cells[child.column], path)
                if value is not None:
                    out[name], filled = value, True
            elif child.spec.kind == "object":
                value, any_cell = self._object(child, cells, path + ".")
                if any_cell:
                    out[name], filled = value, True
            else:  # a list by index columns: present whenever its parent is
                out[name], any_cell = self._list(child, cells, path + ".")
                filled = filled or any_cell
        return out, filled

    def _list(self, node: _Node, cells: list[str], prefix: str) -> tuple[list, bool]:
        out = []
        for index in sorted(node.items):
            child = node.items[index]
            if child.column is not None:
                value = _cell(child, cells[child.column], f"{prefix}{index}")
                if value is not None:
                    out.append(value)
            else:
                value, any_cell = self._object(child, cells, f"{prefix}{index}.")
                if any_cell:
                    out.append(value)
        return out, bool(out)


_INTEGER_CELL = re.compile(r"[+-]?\d+")


def _cell(node: _Node, text: str, path: str):
    """A cell typed by the contract. A cell that cannot be typed is passed on as text,
    so the contract reports it with its path and its own message."""
    if text == "":
        return None
    kind = node.spec.kind
    if node.as_json:
        try:
            return json.loads(text, parse_float=Decimal)
        except (json.JSONDecodeError, RecursionError):
            raise RowError("invalid_csv", f"Column {path} holds {node.spec.kind} JSON that does not parse.",
                           [{"path": path, "message": "Not valid JSON."}]) from None
    stripped = text.strip()
    if kind == "integer":
        return int(stripped) if _INTEGER_CELL.fullmatch(stripped) else text
    if kind == "boolean":
        low = stripped.lower()
        return True if low == "true" else False if low == "false" else text
    if kind in ("decimal", "date"):
        return stripped if stripped else None
    return text


# -- decoding a record ------------------------------------------------------------------------

class Decoder:
    """Record -> (snapshot as given, validated snapshot). Raises RowError."""

    def __init__(self, contract: FactContract, layout: CsvLayout | None = None):
        self.contract = FastContract(contract)
        self.layout = layout

    def decode(self, raw: Any) -> tuple[Any, dict]:
        if isinstance(raw, (bytes, str)):
            snapshot = parse_json(raw)
        elif isinstance(raw, Unreadable):
            raise RowError("invalid_csv", raw.message)
        elif isinstance(raw, list):
            snapshot = self.layout.decode(raw)
        else:  # already a snapshot object
            snapshot = raw
        try:
            return snapshot, self.contract.validate(snapshot)
        except SnapshotInvalid as exc:
            raise RowError("validation_error", "The snapshot does not match its contract.", exc.details(),
                           customer_id=customer_id(snapshot)) from None


def customer_id(snapshot: Any) -> str | None:
    """The customer id a snapshot names, if it names one."""
    if isinstance(snapshot, dict):
        customer = snapshot.get("customer")
        if isinstance(customer, dict) and isinstance(customer.get("id"), str):
            return customer["id"]
    return None
