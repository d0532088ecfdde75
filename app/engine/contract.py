"""Fact contracts: the declarative description of a fact snapshot.

A contract file (``schemas/<id>.v<version>.yaml``) is data. It is checked once, when
loaded, and turned into a marshmallow schema that validates every incoming snapshot:
unknown fields, wrong types, out-of-range values and missing required fields are each
reported with their dotted path. Types are strict (``"45"`` is not an integer, ``true``
is not a number) because durable_rules compares whatever it is given.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import difflib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator

from marshmallow import Schema, ValidationError, fields as mf, validate

from app.core.bounds import bounded_decimal, number_problem

from .errors import Problem, RulesetInvalid
from .util import canonical_hash, json_safe

SCALAR_KINDS = ("integer", "decimal", "boolean", "string", "enum", "date")
KINDS = SCALAR_KINDS + ("object", "list")
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
RESERVED = {"and", "or", "not", "in", "true", "false", "any", "all", "count", "sum",
            "signal", "present", "missing", "matches", "contains", "starts_with",
            "ends_with", "date", "data_issue", "overdue_follow_up"}
MAX_PLACES = 6
# Decimals keep at most 15 significant digits so that durable_rules, which compares
# doubles, orders them exactly as their decimal values.
SIGNIFICANT_DIGITS = 15
MAX_INTEGER = 2**53 - 1
# Where the fields that failed plausibility are marked in what the rules see; no field
# name can take it (field names are lower_snake_case).
ISSUES = "$data_issue"
_NUMBER_RE = re.compile(r"-?([0-9]+)(\.[0-9]+)?")
MAX_SIZE = 10 ** 9     # max_length, max_items
MAX_VERSION = 2 ** 31 - 1
_FIELD_KEYS = {"type", "required", "min", "max", "places", "values", "max_length", "fields",
               "items", "max_items", "description", "personal", "plausible"}
_PLAUSIBLE_KEYS = {"min", "max"}


@dataclass(frozen=True)
class FieldSpec:
    """The declared type of one field (or list element) of a contract."""

    kind: str
    required: bool = False
    min: Decimal | None = None
    max: Decimal | None = None
    places: int = 2
    values: tuple[str, ...] = ()
    max_length: int | None = None
    fields: dict[str, "FieldSpec"] = field(default_factory=dict)
    items: "FieldSpec | None" = None
    max_items: int = 1000
    description: str = ""
    personal: bool = False
    plausible: "Plausible | None" = None

    def describe(self) -> dict:
        out: dict[str, Any] = {"type": self.kind}
        if self.required:
            out["required"] = True
        for key in ("min", "max"):
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value) if self.kind == "decimal" else int(value)
        if self.kind == "decimal":
            out["places"] = self.places
        if self.values:
            out["values"] = list(self.values)
        if self.max_length is not None:
            out["max_length"] = self.max_length
        if self.kind == "list":
            out["max_items"] = self.max_items
            out["items"] = self.items.describe() if self.items else None
        if self.fields:
            out["fields"] = {k: v.describe() for k, v in self.fields.items()}
        if self.description:
            out["description"] = self.description
        if self.personal:
            out["personal"] = True
        if self.plausible is not None:
            out["plausible"] = self.plausible.describe(self.kind)
        return out


@dataclass(frozen=True)
class Plausible:
    """What a policy owner expects of a valid value. A value outside it is not refused:
    the rules treat it as missing and the decision names it (see FactContract.screen)."""

    min: Decimal | None = None
    max: Decimal | None = None

    def describe(self, kind: str) -> dict:
        number = str if kind == "decimal" else int
        return {k: number(v) for k, v in (("min", self.min), ("max", self.max)) if v is not None}

    def expectation(self) -> str:
        lo, hi = (None if v is None else format(v, "f") for v in (self.min, self.max))
        if lo is not None and hi is not None:
            return f"between {lo} and {hi}"
        return f"at least {lo}" if lo is not None else f"at most {hi}"

    def holds(self, value) -> bool:
        return not ((self.min is not None and value < self.min) or (self.max is not None and value > self.max))


@dataclass(frozen=True)
class DataFinding:
    """A valid value that fails its field's plausibility check."""

    field: str
    value: Any
    expectation: str

    def to_dict(self) -> dict:
        return {"field": self.field, "value": json_safe(self.value), "expectation": self.expectation}


PERSONAL_VALUE = "the value (personal, not shown)"


def quote(value: Any, personal: bool = False) -> str:
    """A value a snapshot sent, as an error message names it: text in quotes, numbers as
    written, either cut short when long; a personal field's value is never repeated."""
    if personal:
        return PERSONAL_VALUE
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 40 else value[:37] + "...", ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, Decimal) and value.is_finite():
        text = format(value, "f") if abs(value.adjusted()) < 40 else str(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Field(mf.Field):
    """A contract field: its error messages name the value, unless it is personal."""

    def __init__(self, personal: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.personal = personal

    def fail_with(self, value, text: str) -> ValidationError:
        return ValidationError(f"{quote(value, self.personal)} {text}")


# -- strict marshmallow fields -------------------------------------------------------

def _bounded(value):
    """Refuse, before any arithmetic, a number no field can hold (``1e1000000`` as an
    integer is a million digits; 30 digits cannot be rounded in Python's decimals)."""
    problem = number_problem(value)
    if problem:
        raise ValidationError(problem[0].upper() + problem[1:] + ".")


class StrictInteger(_Field):
    def _deserialize(self, value, attr, data, **kwargs):
        original = value
        if isinstance(value, (Decimal, float)):
            _bounded(value)   # before to_integral_value() and int()
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
                value = int(value)
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail_with(original, "is not an integer")
        if abs(value) > MAX_INTEGER:
            raise self.fail_with(original, "is out of range")
        return value


class ExactDecimal(_Field):
    """A decimal kept exact: JSON numbers (parsed as Decimal) or numeric strings."""

    def __init__(self, places: int, **kwargs):
        super().__init__(**kwargs)
        self.places = places

    def _deserialize(self, value, attr, data, **kwargs):
        original = value
        if isinstance(value, bool):
            raise self.fail_with(original, "is not a decimal number")
        if isinstance(value, int):
            value = Decimal(value)
        elif isinstance(value, float):
            value = Decimal(repr(value))
        elif isinstance(value, str):
            if not _NUMBER_RE.fullmatch(value.strip()):
                raise self.fail_with(original, "is not a decimal number")
            _bounded(value)
            value = Decimal(value.strip())
        elif not isinstance(value, Decimal):
            raise self.fail_with(original, "is not a decimal number")
        if not value.is_finite():
            raise self.fail_with(original, "is not a finite number")
        _bounded(value)
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -self.places:
            if value != value.quantize(Decimal(1).scaleb(-self.places), rounding=decimal.ROUND_DOWN):
                raise self.fail_with(original, f"has more than {self.places} decimal places")
            value = value.quantize(Decimal(1).scaleb(-self.places))
        return value


class StrictBoolean(_Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.fail_with(value, "is not true or false")
        return value


class StrictString(_Field):
    def __init__(self, max_length: int | None = None, values: tuple[str, ...] = (), **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.values = values

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.fail_with(value, "is not text")
        if self.values and value not in self.values:
            raise self.fail_with(value, "is not one of: " + ", ".join(self.values))
        if self.max_length is not None and len(value) > self.max_length:
            raise self.fail_with(value, f"is longer than {self.max_length} characters")
        return value


class IsoDate(_Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise self.fail_with(value, "is not a date (YYYY-MM-DD)")
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            raise self.fail_with(value, "is not a date (YYYY-MM-DD)") from None


class Range(validate.Validator):
    def __init__(self, lo, hi, personal: bool = False):
        self.lo, self.hi, self.personal = lo, hi, personal

    def __call__(self, value):
        if self.lo is not None and value < self.lo:
            raise ValidationError(f"{quote(value, self.personal)} is below the minimum {self.lo}")
        if self.hi is not None and value > self.hi:
            raise ValidationError(f"{quote(value, self.personal)} is above the maximum {self.hi}")
        return value


def _marshmallow_field(spec: FieldSpec, name: str) -> mf.Field:
    opts = {"required": spec.required, "allow_none": False}
    personal = {"personal": spec.personal}
    if spec.kind == "integer":
        return StrictInteger(validate=Range(spec.min, spec.max, spec.personal), **personal, **opts)
    if spec.kind == "decimal":
        return ExactDecimal(spec.places, validate=Range(spec.min, spec.max, spec.personal), **personal, **opts)
    if spec.kind == "boolean":
        return StrictBoolean(**personal, **opts)
    if spec.kind == "string":
        return StrictString(max_length=spec.max_length, **personal, **opts)
    if spec.kind == "enum":
        return StrictString(values=spec.values, **personal, **opts)
    if spec.kind == "date":
        return IsoDate(**personal, **opts)
    if spec.kind == "object":
        return mf.Nested(_marshmallow_schema(spec.fields, name), **opts)
    if spec.kind == "list":
        return mf.List(_marshmallow_field(spec.items, name), validate=validate.Length(max=spec.max_items), **opts)
    raise AssertionError(spec.kind)


def _marshmallow_schema(specs: dict[str, FieldSpec], name: str) -> type[Schema]:
    schema = Schema.from_dict({k: _marshmallow_field(v, f"{name}_{k}") for k, v in specs.items()},
                              name=f"Snapshot_{name}")
    return schema


def flatten_errors(messages: Any, prefix: str = "") -> list[dict]:
    """Turn marshmallow's nested error dict into ``[{path, message}]`` sorted by path."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                out.extend(flatten_errors(value, prefix))
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_errors(value, path))
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, (dict, list)):
                out.extend(flatten_errors(message, prefix))
            else:
                msg = str(message)
                if msg == "Unknown field.":
                    msg = "Unknown field: the contract has no such field."
                elif msg == "Invalid input type.":
                    msg = "Must be an object."
                out.append({"path": prefix or "$", "message": msg})
    else:
        out.append({"path": prefix or "$", "message": str(messages)})
    return sorted(out, key=lambda e: e["path"])


class FactContract:
    """A loaded, checked fact contract."""

    def __init__(self, document: dict, source: str = "<contract>"):
        problems: list[Problem] = []
        self.source = source
        self.document = document
        if not isinstance(document, dict):
            raise RulesetInvalid([Problem(source, "a contract must be a mapping")])
        if _document_size(document, MAX_DOCUMENT) > MAX_DOCUMENT:
            raise RulesetInvalid([Problem(source, f"the contract is larger than {MAX_DOCUMENT:,} characters")])
        self.id = document.get("id")
        self.version = document.get("version")
        if not isinstance(self.id, str) or not NAME_RE.fullmatch(self.id or ""):
            problems.append(Problem(source, "id must be lower_snake_case text", path="id"))
        if isinstance(self.version, bool) or not isinstance(self.version, int) or not 1 <= self.version <= MAX_VERSION:
            problems.append(Problem(source, "version must be a positive integer", path="version"))
        self.title = document.get("title", "")
        self.description = document.get("description", "")
        for key in ("title", "description"):
            value = document.get(key, "")
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                problems.append(Problem(source, f"{key} must be text of at most {MAX_TEXT:,} characters, "
                                                f"not {_kind_of(value) if not isinstance(value, str) else 'longer'}",
                                        path=key))
        for key in document:
            if key not in ("id", "version", "title", "description", "fields"):
                problems.append(Problem(source, f"unknown key {key!r}", path=str(key)))
        raw_fields = document.get("fields")
        if not isinstance(raw_fields, dict) or not raw_fields:
            problems.append(Problem(source, "fields must be a non-empty mapping", path="fields"))
            raw_fields = {}
        self.fields = _parse_fields(raw_fields, "", source, problems)
        if problems:
            raise RulesetInvalid(problems)
        count = sum(1 for _ in _all_specs(self.fields))
        if count > MAX_FIELDS:
            raise RulesetInvalid([Problem(source, f"the contract declares {count:,} fields; at most "
                                                  f"{MAX_FIELDS:,} are allowed", path="fields")])
        self.hash = canonical_hash(document)
        self._schema = _marshmallow_schema(self.fields, f"{self.id}_v{self.version}")()
        self._fast = _fast_object(self.fields)
        self._plausible = tuple((tuple(path.split(".")), path, spec.plausible)
                                for path, spec in self.paths() if spec.plausible is not None)

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    # -- validation -------------------------------------------------------------------
    def validate(self, snapshot: Any) -> dict:
        """Return the validated snapshot (decimals exact, dates parsed) or raise."""
        from .errors import SnapshotInvalid

        if not isinstance(snapshot, dict):
            raise SnapshotInvalid([{"path": "$", "message": "The snapshot must be a JSON object."}])
        fast = self.fast_validate(snapshot)
        return fast if fast is not None else self.full_validate(snapshot)

    def fast_validate(self, snapshot: Any) -> dict | None:
        """The compiled fast path alone: the validated snapshot, or None where it defers
        to the full check (anything not plainly valid)."""
        try:
            return self._fast(snapshot)
        except Exception:  # noqa: BLE001 - _Unsure, or anything unforeseen
            return None

    def full_validate(self, snapshot: Any) -> dict:
        """The full check alone (marshmallow): the validated snapshot, or SnapshotInvalid."""
        from .errors import SnapshotInvalid

        try:
            return self._schema.load(snapshot)
        except ValidationError as exc:
            raise SnapshotInvalid(flatten_errors(exc.messages)) from None

    def screen(self, data: dict) -> tuple[dict, tuple[DataFinding, ...]]:
        """Check a validated snapshot's plausibility. Returns what the rules see, with each
        implausible value taken out (so a rule reads it as missing) and its path marked
        under ISSUES (which ``data_issue(path)`` tests), and the findings."""
        findings = []
        for parts, path, plausible in self._plausible:
            value = data
            for part in parts:
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None and not plausible.holds(value):
                findings.append(DataFinding(path, value, plausible.expectation()))
        if not findings:
            return data, ()
        seen = dict(data)
        issues: dict = {}
        seen[ISSUES] = issues
        for finding in findings:
            *parents, last = finding.field.split(".")
            node, marks = seen, issues
            for part in parents:
                node[part] = node = dict(node[part])
                marks = marks.setdefault(part, {})
            del node[last]
            marks[last] = True
        return seen, tuple(findings)

    # -- lookup -----------------------------------------------------------------------
    def field(self, path: str) -> FieldSpec | None:
        return lookup(self.fields, path.split("."))

    def paths(self) -> Iterator[tuple[str, FieldSpec]]:
        yield from walk(self.fields, "")

    def personal_paths(self) -> list[str]:
        return [p for p, spec in self.paths() if spec.personal]

    def suggest(self, path: str, scope: dict[str, FieldSpec] | None = None, prefix: str = "") -> str | None:
        names = [p for p, _ in walk(scope if scope is not None else self.fields, prefix)]
        best = difflib.get_close_matches(path, names, n=1, cutoff=0.6)
        return best[0] if best else None

    def describe(self) -> dict:
        return {"id": self.id, "version": self.version, "hash": self.hash, "title": self.title,
                "description": self.description,
                "fields": {k: v.describe() for k, v in self.fields.items()}}


def lookup(specs: dict[str, FieldSpec], parts: list[str]) -> FieldSpec | None:
    spec = None
    current = specs
    for part in parts:
        if current is None or part not in current:
            return None
        spec = current[part]
        current = spec.fields if spec.kind == "object" else None
    return spec


def _all_specs(specs: dict[str, FieldSpec]) -> Iterator[FieldSpec]:
    """Every field spec, nested ones and list items included."""
    todo = list(specs.values())
    while todo:
        spec = todo.pop()
        yield spec
        todo.extend(spec.fields.values())
        if spec.items is not None:
            todo.append(spec.items)


def walk(specs: dict[str, FieldSpec], prefix: str) -> Iterator[tuple[str, FieldSpec]]:
    for name, spec in specs.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, spec
        if spec.kind == "object":
            yield from walk(spec.fields, path)


def _number(value: Any, kind: str) -> Decimal:
    # A bound written as text ("1e300000", "12") is refused, whatever it says: a
    # number is a number, and text has no bound on what it costs to read.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"must be a number, not {_kind_of(value)}")
    d = bounded_decimal(value)
    if kind == "integer" and d != d.to_integral_value():
        raise ValueError("must be a whole number")
    return d


MAX_NESTING = 16       # objects within objects
MAX_FIELDS = 2000      # fields in a contract, list items and nested fields included
MAX_DOCUMENT = 512 * 1024   # characters of a contract document, counted as its text
MAX_TEXT = 4000        # characters of a title or description
MAX_VALUES = 1000      # values of an enum
MAX_VALUE = 200        # characters of an enum value


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else type(value).__name__


def _document_size(document: Any, limit: int) -> int:
    """About how many characters ``document`` takes as text, counting no further than
    ``limit``: a walk that stops early, so a huge document costs no more than the limit."""
    size, todo = 0, [document]
    while todo and size <= limit:
        node = todo.pop()
        if isinstance(node, dict):
            size += 2
            for key, value in node.items():
                size += (len(key) if isinstance(key, str) else 8) + 4
                todo.append(value)
        elif isinstance(node, list):
            size += 2 + len(node)
            todo.extend(node)
        elif isinstance(node, str):
            size += len(node) + 2
        else:
            size += 8
    return size


def _parse_fields(raw: dict, prefix: str, source: str, problems: list[Problem],
                  depth: int = 0) -> dict[str, FieldSpec]:
    if depth > MAX_NESTING:
        problems.append(Problem(source, f"objects are nested more than {MAX_NESTING} deep", path=prefix))
        return {}
    out: dict[str, FieldSpec] = {}
    for name, body in raw.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            problems.append(Problem(source, "field names are lower_snake_case", path=path))
            continue
        if name in RESERVED:
            problems.append(Problem(source, f"{name!r} is a reserved word of the condition language", path=path))
            continue
        spec = _parse_spec(body, path, source, problems, depth)
        if spec is not None:
            out[name] = spec
    return out


def _parse_spec(body: Any, path: str, source: str, problems: list[Problem], depth: int = 0) -> FieldSpec | None:
    """One field's declaration, or None with its problems recorded."""
    count = len(problems)

    def problem(message: str) -> None:
        problems.append(Problem(source, message, path=path))

    if not isinstance(body, dict):
        problem("a field is a mapping with at least 'type'")
        return None
    unknown = set(body) - _FIELD_KEYS
    if unknown:
        problem(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    kind = body.get("type")
    if kind not in KINDS:
        problem(f"type must be one of {', '.join(KINDS)}")
        return None
    kw: dict[str, Any] = {"kind": kind}
    for key in ("required", "personal"):
        kw[key] = body.get(key, False)
        if not isinstance(kw[key], bool):
            problem(f"{key} must be true or false")
    kw["description"] = body.get("description", "")
    if not isinstance(kw["description"], str):
        problem(f"description must be text, not {_kind_of(kw['description'])}")
    elif len(kw["description"]) > MAX_TEXT:
        problem(f"description must be at most {MAX_TEXT:,} characters")
    for key in ("min", "max"):
        if key in body and kind not in ("integer", "decimal"):
            problem(f"{key} applies to numbers only")
    if kind in ("integer", "decimal"):
        kw.update(_numeric_attributes(body, kind, problem))
    for key in ("places", "values", "max_length", "fields", "items", "max_items"):
        if key in body and kind not in _APPLIES[key]:
            problem(f"{key} applies to {_APPLIES_TO[key]} only")
    if "plausible" in body:
        plausible = _parse_plausible(body["plausible"], kind, kw, path, source, problems)
        if plausible is not None:
            kw["plausible"] = plausible
    elif kind == "enum":
        values = body.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            problem("an enum needs 'values': a list of strings")
        elif len(values) > MAX_VALUES or any(len(v) > MAX_VALUE for v in values):
            problem(f"an enum has at most {MAX_VALUES:,} values of at most {MAX_VALUE} characters each")
        elif len(set(values)) != len(values):
            problem("an enum's values are each listed once")
        else:
            kw["values"] = tuple(values)
    elif kind == "string" and "max_length" in body:
        kw["max_length"] = _size(body, "max_length", problem)
    elif kind == "object":
        if not isinstance(body.get("fields"), dict) or not body["fields"]:
            problem("an object needs 'fields'")
        else:
            kw["fields"] = _parse_fields(body["fields"], path, source, problems, depth + 1)
    elif kind == "list":
        kw.update(_list_attributes(body, path, source, problems, problem, depth))
    return FieldSpec(**kw) if len(problems) == count else None


_APPLIES = {"places": ("decimal",), "values": ("enum",), "max_length": ("string",), "fields": ("object",),
            "items": ("list",), "max_items": ("list",)}
_APPLIES_TO = {"places": "decimals", "values": "enums", "max_length": "strings", "fields": "objects",
               "items": "lists", "max_items": "lists"}


def _size(body: dict, key: str, problem, default: int = 0) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE:
        problem(f"{key} must be a whole number from 0 to {MAX_SIZE:,}")
        return default
    return value


def _numeric_attributes(body: dict, kind: str, problem) -> dict:
    kw: dict[str, Any] = {}
    for key in ("min", "max"):
        if key in body:
            try:
                kw[key] = _number(body[key], kind)
            except ValueError as exc:
                problem(f"{key} {exc}")
                return {}
    if kind == "decimal":
        places = body.get("places", 2)
        if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= MAX_PLACES:
            problem(f"places must be an integer from 0 to {MAX_PLACES}")
            return {}
        kw["places"] = places
        bound = Decimal(1).scaleb(SIGNIFICANT_DIGITS - places)
        kw.setdefault("min", -bound)
        kw.setdefault("max", bound)
        if abs(kw["min"]) > bound or abs(kw["max"]) > bound:
            problem(f"bounds must lie within +/-{bound} at {places} places")
            return {}
    else:
        kw.setdefault("min", Decimal(-MAX_INTEGER))
        kw.setdefault("max", Decimal(MAX_INTEGER))
        if abs(kw["min"]) > MAX_INTEGER or abs(kw["max"]) > MAX_INTEGER:
            problem(f"bounds must lie within +/-{MAX_INTEGER} (2**53 - 1)")
            return {}
        kw["min"], kw["max"] = int(kw["min"]), int(kw["max"])
    if kw["min"] > kw["max"]:
        problem("min is greater than max")
    return kw


def _list_attributes(body: dict, path: str, source: str, problems: list[Problem], problem, depth: int) -> dict:
    item = _parse_spec(body.get("items"), f"{path}[]", source, problems, depth + 1)
    if item is None:
        return {}
    if item.kind == "list":
        problem("lists of lists are not supported")
        return {}
    return {"items": item, "max_items": _size(body, "max_items", problem, 1000)}


def _parse_plausible(raw: Any, kind: str, kw: dict, path: str, source: str,
                     problems: list[Problem]) -> Plausible | None:
    where = f"{path}.plausible"
    if kind in ("integer", "decimal") and "min" not in kw:
        return None  # the valid range is itself wrong, and said so
    if kind not in ("integer", "decimal"):
        problems.append(Problem(source, "plausible applies to numbers only", path=where))
        return None
    if "[]" in path:
        problems.append(Problem(source, "plausible applies to fields outside lists only", path=where))
        return None
    if not isinstance(raw, dict) or not raw or set(raw) - _PLAUSIBLE_KEYS:
        problems.append(Problem(source, "plausible is a mapping with min, max or both", path=where))
        return None
    bounds: dict[str, Decimal] = {}
    for key in ("min", "max"):
        if key in raw:
            try:
                bounds[key] = _number(raw[key], kind)
            except ValueError as exc:
                problems.append(Problem(source, f"{key} {exc}", path=f"{where}.{key}"))
                return None
    lo, hi = bounds.get("min"), bounds.get("max")
    if lo is not None and hi is not None and lo > hi:
        problems.append(Problem(source, "min is greater than max", path=where))
        return None
    for bound in (lo, hi):
        if bound is not None and not (kw["min"] <= bound <= kw["max"]):
            problems.append(Problem(source, f"the plausible bound {bound} lies outside the valid range "
                                            f"{kw['min']} to {kw['max']}", path=where))
            return None
    return Plausible(lo, hi)


# -- the fast path ---------------------------------------------------------------------
#
# marshmallow is the authority on what is valid and on every error message, but it costs
# about as much as evaluating the rules. Most snapshots are valid, so a check compiled
# from the same FieldSpecs accepts the plainly valid ones and gives up (``_Unsure``) on
# anything else, which marshmallow then judges. A property test keeps the two in step.

class _Unsure(Exception):
    pass


def _fast_integer(spec: FieldSpec):
    lo, hi = spec.min, spec.max

    def check(v):
        if type(v) is not int or (lo is not None and v < lo) or (hi is not None and v > hi) or abs(v) > MAX_INTEGER:
            raise _Unsure
        return v
    return check


def _plain_decimal(places: int):
    """A full match of a plain numeric string with at most ``places`` decimals: always a
    finite Decimal of an exponent the field allows."""
    return re.compile(r"-?[0-9]+" + (rf"(?:\.[0-9]{{1,{places}}})?" if places else "")).fullmatch


def _fast_decimal(spec: FieldSpec):
    lo, hi = spec.min, spec.max
    places = -spec.places
    plain = _plain_decimal(spec.places)

    def check(v):
        t = type(v)
        if t is str:
            if len(v) > 40 or plain(v) is None:
                raise _Unsure
            v = Decimal(v)
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise _Unsure
            return v
        if t is int:
            v = Decimal(v)
        elif t is float:
            v = Decimal(repr(v))
        elif t is not Decimal:
            raise _Unsure
        if not v.is_finite() or v.as_tuple().exponent < places or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Unsure
        return v
    return check


def _fast_boolean(spec: FieldSpec):
    def check(v):
        if type(v) is not bool:
            raise _Unsure
        return v
    return check


def _fast_string(spec: FieldSpec):
    longest = spec.max_length

    def check(v):
        if type(v) is not str or (longest is not None and len(v) > longest):
            raise _Unsure
        return v
    return check


def _fast_enum(spec: FieldSpec):
    allowed = frozenset(spec.values)

    def check(v):
        if type(v) is not str or v not in allowed:
            raise _Unsure
        return v
    return check


def _fast_date(spec: FieldSpec):
    def check(v):
        if type(v) is not str or len(v) != 10 or v[4] != "-" or v[7] != "-" or not v[:4].isdigit():
            raise _Unsure
        try:
            return _dt.date.fromisoformat(v)
        except ValueError:
            raise _Unsure from None
    return check


def _fast_list(spec: FieldSpec):
    item = _fast_field(spec.items)
    most = spec.max_items

    def check(v):
        if type(v) is not list or len(v) > most:
            raise _Unsure
        return [item(x) for x in v]
    return check


def _fast_field(spec: FieldSpec):
    """A check of one field that returns the validated value or raises _Unsure."""
    if spec.kind == "object":
        return _fast_object(spec.fields)
    return _FAST[spec.kind](spec)


_FAST = {"integer": _fast_integer, "decimal": _fast_decimal, "boolean": _fast_boolean, "string": _fast_string,
         "enum": _fast_enum, "date": _fast_date, "list": _fast_list}


def _fast_object(specs: dict[str, FieldSpec]):
    """The check of an object, generated as one straight-line function: each field looked
    up once, the common checks inline, an unknown key or a null found by counting."""
    env: dict[str, Any] = {"U": _Unsure, "Decimal": Decimal, "MAX_INTEGER": MAX_INTEGER}
    lines = ["def check(v):", "    if type(v) is not dict:", "        raise U", "    out = {}", "    n = 0"]
    for i, (name, spec) in enumerate(specs.items()):
        lines += [f"    x = v.get({name!r})", "    if x is not None:", "        n += 1"]
        lines += ["        " + line for line in _inline_check(spec, i, env)]
        lines.append(f"        out[{name!r}] = x")
        if spec.required:
            lines += ["    else:", "        raise U"]
    lines += ["    if n != len(v):", "        raise U", "    return out"]
    exec("\n".join(lines), env)  # noqa: S102 - source generated above from checked FieldSpecs
    return env["check"]


def _inline_check(spec: FieldSpec, i: int, env: dict) -> list[str]:
    """Lines that check ``x`` against ``spec`` and leave the validated value in ``x``."""
    def bounds(lo, hi) -> str:
        env[f"L{i}"], env[f"H{i}"] = lo, hi
        return "".join([f" or x < L{i}" if lo is not None else "", f" or x > H{i}" if hi is not None else ""])
    if spec.kind == "integer":
        return [f"if type(x) is not int{bounds(spec.min, spec.max)} or abs(x) > MAX_INTEGER:", "    raise U"]
    if spec.kind == "boolean":
        return ["if type(x) is not bool:", "    raise U"]
    if spec.kind == "string":
        longest = f" or len(x) > {spec.max_length}" if spec.max_length is not None else ""
        return [f"if type(x) is not str{longest}:", "    raise U"]
    if spec.kind == "enum":
        env[f"E{i}"] = frozenset(spec.values)
        return [f"if type(x) is not str or x not in E{i}:", "    raise U"]
    env[f"F{i}"] = _fast_field(spec)
    if spec.kind == "decimal":
        # the common case, a plain numeric string, inline; anything else by the field's check
        env[f"P{i}"] = _plain_decimal(spec.places)
        return ["if type(x) is str:", f"    if len(x) > 40 or P{i}(x) is None:", "        raise U",
                "    x = Decimal(x)", f"    if False{bounds(spec.min, spec.max)}:", "        raise U",
                "else:", f"    x = F{i}(x)"]
    return [f"x = F{i}(x)"]
