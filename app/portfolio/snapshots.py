"""Turning one input record into a validated fact snapshot, or a reason why not.

A record is a JSON Lines line (bytes) or a CSV record (its cells). ``Decoder`` parses it
and validates the result against the ruleset's fact contract. Bad records raise
``RowError`` with a stable ``reason`` and, for contract errors, every problem with its
dotted path, the same details the API answers with.

Validation is ``FactContract.validate``: its compiled fast path takes the plainly valid
snapshots a portfolio is mostly made of, and marshmallow judges the rest.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.engine import FactContract, SnapshotInvalid
from app.engine.contract import FieldSpec
from app.engine.followup import FOLLOW_UP, split_facts


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


_INTEGER_CELL = re.compile(r"[+-]?[0-9]+")


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
        self.contract = contract
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
        # A snapshot from the decision log carries the follow-up facts its decision was given.
        plain, facts = split_facts(snapshot)
        try:
            validated = self.contract.validate(plain)
            return snapshot, validated if facts is None else {**validated, FOLLOW_UP: facts}
        except SnapshotInvalid as exc:
            raise RowError("validation_error", "The snapshot does not match its contract.", exc.details,
                           customer_id=customer_id(snapshot)) from None


def customer_id(snapshot: Any) -> str | None:
    """The customer id a snapshot names, if it names one."""
    if isinstance(snapshot, dict):
        customer = snapshot.get("customer")
        if isinstance(customer, dict) and isinstance(customer.get("id"), str):
            return customer["id"]
    return None
