"""Type-checking conditions against a fact contract.

Every field a condition reads must exist in the contract with a type that fits the way
it is used. Problems are collected (not raised one by one) so an author sees all of them;
an unresolved field is given the type ``any`` so one misspelling reports once.
"""
from __future__ import annotations

import datetime as _dt
import difflib
from dataclasses import dataclass, field
from decimal import Decimal

from .condition import (And, Arith, Compare, DataIssue, In, Literal, Neg, Node, Not, Or, OverdueFollowUp, Path, Presence,
                        Quant, Signal,
                        StrFunc, Total)
from .contract import FactContract, FieldSpec, walk
from .patterns import compile_pattern

_KIND_TYPE = {"integer": "number", "decimal": "number", "string": "string", "enum": "enum",
              "boolean": "boolean", "date": "date", "object": "object", "list": "list"}
_TYPE_WORDS = {"number": "a number", "string": "text", "enum": "a choice", "boolean": "true/false",
               "date": "a date", "object": "a group of fields", "list": "a list", "any": "unknown"}


@dataclass(frozen=True)
class Type:
    name: str
    spec: FieldSpec | None = None
    path: str | None = None

    @property
    def word(self) -> str:
        if self.name == "enum" and self.spec is not None:
            return f"a choice of {', '.join(self.spec.values)}"
        return _TYPE_WORDS.get(self.name, self.name)


ANY = Type("any")
BOOL = Type("boolean")
NUMBER = Type("number")


@dataclass
class TypeProblem:
    message: str
    path: str | None = None


@dataclass
class Checked:
    """What the checker learnt about one condition."""

    problems: list[TypeProblem] = field(default_factory=list)
    signals: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)


class Checker:
    def __init__(self, contract: FactContract):
        self.contract = contract
        self.root_names = set(contract.fields)

    def check_condition(self, node: Node) -> Checked:
        out = Checked()
        t = self._check(node, {}, out, in_quant=False)
        if t.name not in ("boolean", "any"):
            out.problems.append(TypeProblem(f"the condition is {t.word}, not true/false: compare it with something",
                                            t.path))
        return out

    # -- helpers ------------------------------------------------------------------------
    def _resolve(self, path: Path, scope: dict[str, tuple[FieldSpec, str]], out: Checked) -> Type:
        parts = list(path.parts)
        if parts[0] in scope:
            spec, list_path = scope[parts[0]]
            prefix = f"{list_path}[]"
            rest = parts[1:]
            shown = path.dotted
            if not rest:
                return Type(_KIND_TYPE[spec.kind], spec, shown)
            if spec.kind != "object":
                out.problems.append(TypeProblem(f"{parts[0]} is {Type(_KIND_TYPE[spec.kind]).word}; it has no fields",
                                                shown))
                return ANY
            fields = spec.fields
        else:
            prefix, rest, fields, shown = "", parts, self.contract.fields, path.dotted
        current = fields
        walked = []
        spec = None
        for i, part in enumerate(rest):
            if current is None:
                out.problems.append(TypeProblem(f"{'.'.join(walked)} is not a group of fields", shown))
                return ANY
            if part not in current:
                full = ".".join(rest)
                candidates = [p for p, _ in walk(fields, "")]
                best = difflib.get_close_matches(full, candidates, n=1, cutoff=0.6)
                where = "the contract" if not prefix else f"the elements of {prefix[:-2]}"
                msg = f"unknown field: {where} has no field {full!r}"
                if best:
                    head = "" if not prefix else parts[0] + "."
                    msg += f"; did you mean {head}{best[0]}?"
                out.problems.append(TypeProblem(msg, shown))
                return ANY
            spec = current[part]
            walked.append(part)
            current = spec.fields if spec.kind == "object" else None
        out.paths.add((prefix + ".".join(rest)) if prefix else ".".join(rest))
        return Type(_KIND_TYPE[spec.kind], spec, shown)

    def _check(self, node: Node, scope, out: Checked, in_quant: bool) -> Type:
        m = getattr(self, "_" + type(node).__name__.lower())
        return m(node, scope, out, in_quant)

    def _literal(self, node: Literal, scope, out, in_quant) -> Type:
        v = node.value
        if isinstance(v, bool):
            return BOOL
        if isinstance(v, Decimal):
            return NUMBER
        if isinstance(v, _dt.date):
            return Type("date")
        return Type("string")

    def _path(self, node: Path, scope, out, in_quant) -> Type:
        return self._resolve(node, scope, out)

    def _bool_operand(self, item: Node, scope, out, in_quant, context: str) -> None:
        t = self._check(item, scope, out, in_quant)
        if t.name not in ("boolean", "any"):
            out.problems.append(TypeProblem(f"{item.text!r} is {t.word}, not a condition; {context} joins conditions",
                                            t.path))

    def _and(self, node: And, scope, out, in_quant) -> Type:
        for item in node.items:
            self._bool_operand(item, scope, out, in_quant, "'and'")
        return BOOL

    def _or(self, node: Or, scope, out, in_quant) -> Type:
        for item in node.items:
            self._bool_operand(item, scope, out, in_quant, "'or'")
        return BOOL

    def _not(self, node: Not, scope, out, in_quant) -> Type:
        self._bool_operand(node.item, scope, out, in_quant, "'not'")
        return BOOL

    def _compare(self, node: Compare, scope, out, in_quant) -> Type:
        lt = self._check(node.left, scope, out, in_quant)
        rt = self._check(node.right, scope, out, in_quant)
        if isinstance(node.left, Literal) and isinstance(node.right, Literal):
            out.problems.append(TypeProblem(f"{node.text!r} compares two constants"))
            return BOOL
        if ANY in (lt, rt) or lt.name == "any" or rt.name == "any":
            return BOOL
        path = lt.path or rt.path
        ordered = node.op in ("<", "<=", ">", ">=")
        ok = False
        if lt.name == rt.name == "number" or lt.name == rt.name == "date":
            ok = True
        elif not ordered and {lt.name, rt.name} <= {"string", "enum"}:
            ok = True
            for enum_t, other, other_node in ((lt, rt, node.right), (rt, lt, node.left)):
                if enum_t.name == "enum" and isinstance(other_node, Literal):
                    self._check_enum_value(enum_t, other_node.value, out)
        elif not ordered and lt.name == rt.name == "boolean":
            ok = True
        if not ok:
            what = "ordered (<, <=, >, >=)" if ordered and lt.name == rt.name else "compared"
            out.problems.append(TypeProblem(
                f"wrong type comparison in {node.text!r}: {_side(node.left, lt)} cannot be {what} "
                f"with {_side(node.right, rt)}", path))
        return BOOL

    def _check_enum_value(self, t: Type, value, out: Checked) -> None:
        if isinstance(value, str) and value not in t.spec.values:
            best = difflib.get_close_matches(value, t.spec.values, n=1, cutoff=0.5)
            msg = f"{value!r} is not one of the values of {t.path} ({', '.join(t.spec.values)})"
            if best:
                msg += f"; did you mean {best[0]!r}?"
            out.problems.append(TypeProblem(msg, t.path))

    def _in(self, node: In, scope, out, in_quant) -> Type:
        t = self._check(node.operand, scope, out, in_quant)
        if t.name == "any":
            return BOOL
        for value in node.values:
            vt = "number" if isinstance(value, Decimal) else "string"
            if t.name == "enum" and vt == "string":
                self._check_enum_value(t, value, out)
            elif t.name != vt:
                out.problems.append(TypeProblem(
                    f"wrong type comparison in {node.text!r}: {_side(node.operand, t)} cannot be compared "
                    f"with {'a number' if vt == 'number' else 'text'} {value!s}", t.path))
                break
        return BOOL

    def _arith(self, node: Arith, scope, out, in_quant) -> Type:
        for side in (node.left, node.right):
            t = self._check(side, scope, out, in_quant)
            if t.name not in ("number", "any"):
                out.problems.append(TypeProblem(f"{side.text!r} is {t.word}; arithmetic needs numbers", t.path))
        return NUMBER

    def _neg(self, node: Neg, scope, out, in_quant) -> Type:
        t = self._check(node.item, scope, out, in_quant)
        if t.name not in ("number", "any"):
            out.problems.append(TypeProblem(f"{node.item.text!r} is {t.word}; '-' needs a number", t.path))
        return NUMBER

    def _bind(self, node, scope, out) -> dict | None:
        src = self._resolve(node.source, scope, out)
        if src.name == "any":
            return None
        if src.name != "list":
            out.problems.append(TypeProblem(f"{node.source.dotted} is {src.word}, not a list", node.source.dotted))
            return None
        if node.var in scope or node.var in self.root_names:
            out.problems.append(TypeProblem(f"the name {node.var!r} is already used; pick another name for the element",
                                            node.source.dotted))
            return None
        list_path = node.source.dotted
        if node.source.parts[0] in scope:
            outer_spec, outer_path = scope[node.source.parts[0]]
            list_path = f"{outer_path}[]." + ".".join(node.source.parts[1:])
        new = dict(scope)
        new[node.var] = (src.spec.items, list_path)
        return new

    def _quant(self, node: Quant, scope, out, in_quant) -> Type:
        inner = self._bind(node, scope, out)
        if inner is not None:
            self._bool_operand(node.body, inner, out, True, f"'{node.kind}'")
        return NUMBER if node.kind == "count" else BOOL

    def _total(self, node: Total, scope, out, in_quant) -> Type:
        inner = self._bind(node, scope, out)
        if inner is not None:
            t = self._check(node.body, inner, out, True)
            if t.name not in ("number", "any"):
                out.problems.append(TypeProblem(f"sum needs a number, {node.body.text!r} is {t.word}", t.path))
        return NUMBER

    def _signal(self, node: Signal, scope, out, in_quant) -> Type:
        if in_quant:
            out.problems.append(TypeProblem(f"signal({node.name}) cannot be used inside any/all/count/sum"))
        out.signals.add(node.name)
        return BOOL

    def _presence(self, node: Presence, scope, out, in_quant) -> Type:
        self._resolve(node.path, scope, out)
        return BOOL

    def _dataissue(self, node: DataIssue, scope, out, in_quant) -> Type:
        if node.path.parts[0] in scope:
            out.problems.append(TypeProblem(f"{node.text}: data_issue applies to fields outside lists",
                                            node.path.dotted))
            return BOOL
        t = self._resolve(node.path, scope, out)
        if t.spec is not None and t.spec.plausible is None:
            out.problems.append(TypeProblem(
                f"{node.text} is never true: the contract declares no plausible range for {node.path.dotted}",
                node.path.dotted))
        return BOOL

    def _overduefollowup(self, node: OverdueFollowUp, scope, out, in_quant) -> Type:
        # Whether the action declares a follow-up is checked with the action catalogue
        # (parse.py); the customer's tasks are outside any list.
        if in_quant:
            out.problems.append(TypeProblem(f"{node.text} cannot be used inside any/all/count/sum"))
        return BOOL

    def _strfunc(self, node: StrFunc, scope, out, in_quant) -> Type:
        t = self._resolve(node.path, scope, out)
        if t.name not in ("string", "enum", "any"):
            out.problems.append(TypeProblem(f"{node.kind} needs text, {node.path.dotted} is {t.word}", t.path))
        if node.kind == "matches":
            try:
                compile_pattern(node.pattern)
            except ValueError as exc:
                out.problems.append(TypeProblem(str(exc), t.path))
        return BOOL


def _side(node: Node, t: Type) -> str:
    if isinstance(node, Literal):
        v = node.value
        shown = f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
        return f"{t.word} {shown}"
    return f"{node.text} ({t.word})"
