"""The condition language: parsing into an immutable syntax tree.

Conditions are parsed with a LALR grammar (``condition.lark``); nothing a policy author
writes is ever evaluated as Python. Each node keeps the source text it came from, so the
explanation trail can quote the policy author's own words.
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path as _FsPath
from typing import Iterator

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from app.core.bounds import bounded_decimal

GRAMMAR = (_FsPath(__file__).with_name("condition.lark")).read_text()


@functools.cache
def _parser() -> Lark:
    # Built on first use: a command that parses no condition does not pay for it.
    parser = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)
    _TOKEN_NAMES.update({t.name: repr(t.pattern.value) for t in parser.terminals
                         if t.pattern.type == "str" and not t.pattern.value.isalpha()})
    return parser


COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class ConditionSyntaxError(ValueError):
    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.column = column


@dataclass(frozen=True, eq=False)
class Node:
    text: str = field(default="", repr=False, compare=False)

    def children(self) -> Iterator["Node"]:
        return iter(())

    def walk(self) -> Iterator["Node"]:
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True, eq=False)
class Literal(Node):
    value: object = None  # Decimal | str | bool | date


@dataclass(frozen=True, eq=False)
class Path(Node):
    parts: tuple[str, ...] = ()

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, eq=False)
class Compare(Node):
    op: str = "=="
    left: Node = None
    right: Node = None

    def children(self):
        return iter((self.left, self.right))


@dataclass(frozen=True, eq=False)
class In(Node):
    operand: Node = None
    values: tuple = ()
    negated: bool = False

    def children(self):
        return iter((self.operand,))


@dataclass(frozen=True, eq=False)
class And(Node):
    items: tuple[Node, ...] = ()

    def children(self):
        return iter(self.items)


@dataclass(frozen=True, eq=False)
class Or(Node):
    items: tuple[Node, ...] = ()

    def children(self):
        return iter(self.items)


@dataclass(frozen=True, eq=False)
class Not(Node):
    item: Node = None

    def children(self):
        return iter((self.item,))


@dataclass(frozen=True, eq=False)
class Arith(Node):
    op: str = "+"
    left: Node = None
    right: Node = None

    def children(self):
        return iter((self.left, self.right))


@dataclass(frozen=True, eq=False)
class Neg(Node):
    item: Node = None

    def children(self):
        return iter((self.item,))


@dataclass(frozen=True, eq=False)
class Quant(Node):
    """any / all / count over the elements of a list; ``sum`` is a Total."""

    kind: str = "any"
    var: str = ""
    source: Path = None
    body: Node = None

    def children(self):
        return iter((self.source, self.body))


@dataclass(frozen=True, eq=False)
class Total(Node):
    var: str = ""
    source: Path = None
    body: Node = None

    def children(self):
        return iter((self.source, self.body))


@dataclass(frozen=True, eq=False)
class Signal(Node):
    name: str = ""


@dataclass(frozen=True, eq=False)
class Presence(Node):
    present: bool = True
    path: Path = None

    def children(self):
        return iter((self.path,))


@dataclass(frozen=True, eq=False)
class DataIssue(Node):
    """``data_issue(path)``: the snapshot's value at path failed its plausibility check
    (and the rules see it as missing)."""

    path: Path = None

    def children(self):
        return iter((self.path,))


@dataclass(frozen=True, eq=False)
class OverdueFollowUp(Node):
    """``overdue_follow_up(action)``: the customer has an open follow-up task for the
    action that is past its due time, as the decision's follow-up facts say."""

    action: str = ""


@dataclass(frozen=True, eq=False)
class StrFunc(Node):
    kind: str = "matches"
    path: Path = None
    pattern: str = ""

    def children(self):
        return iter((self.path,))


def _number(token) -> Decimal:
    try:
        return bounded_decimal(str(token))
    except ValueError as exc:
        raise ConditionSyntaxError(f"{str(token)[:40]}: {exc}") from None


def _string(token) -> str:
    return json.loads(str(token))


class _Build(Transformer):
    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def _text(self, meta) -> str:
        if getattr(meta, "empty", True):
            return ""
        return self.source[meta.start_pos:meta.end_pos]

    # literals
    @v_args(meta=True)
    def number(self, meta, children):
        return Literal(self._text(meta), _number(children[0]))

    @v_args(meta=True)
    def negnumber(self, meta, children):
        return Literal(self._text(meta), -_number(children[0]))

    @v_args(meta=True)
    def string(self, meta, children):
        return Literal(self._text(meta), _string(children[0]))

    @v_args(meta=True)
    def true(self, meta, children):
        return Literal(self._text(meta), True)

    @v_args(meta=True)
    def false(self, meta, children):
        return Literal(self._text(meta), False)

    @v_args(meta=True)
    def date(self, meta, children):
        raw = _string(children[0])
        try:
            value = _dt.date.fromisoformat(raw)
        except ValueError:
            raise ConditionSyntaxError(f"date({raw!r}) is not a valid YYYY-MM-DD date") from None
        return Literal(self._text(meta), value)

    @v_args(meta=True)
    def path(self, meta, children):
        return Path(self._text(meta), tuple(str(c) for c in children))

    # boolean structure
    @v_args(meta=True)
    def or_(self, meta, children):
        items = []
        for c in children:
            items.extend(c.items if isinstance(c, Or) else (c,))
        return Or(self._text(meta), tuple(items))

    @v_args(meta=True)
    def and_(self, meta, children):
        items = []
        for c in children:
            items.extend(c.items if isinstance(c, And) else (c,))
        return And(self._text(meta), tuple(items))

    @v_args(meta=True)
    def not_(self, meta, children):
        return Not(self._text(meta), children[0])

    def _compare(self, op):
        @v_args(meta=True)
        def build(meta, children):
            return Compare(self._text(meta), op, children[0], children[1])
        return build

    def __getattr__(self, name):
        if name in COMPARISONS:
            return self._compare(COMPARISONS[name])
        raise AttributeError(name)

    @v_args(meta=True)
    def in_(self, meta, children):
        return In(self._text(meta), children[0], tuple(c.value for c in children[1].children), False)

    @v_args(meta=True)
    def not_in(self, meta, children):
        return In(self._text(meta), children[0], tuple(c.value for c in children[1].children), True)

    # arithmetic
    def _arith(op):
        @v_args(meta=True)
        def build(self, meta, children):
            return Arith(self._text(meta), op, children[0], children[1])
        return build

    add = _arith("+")
    sub = _arith("-")
    mul = _arith("*")
    div = _arith("/")

    @v_args(meta=True)
    def neg(self, meta, children):
        item = children[0]
        if isinstance(item, Literal) and isinstance(item.value, Decimal):
            return Literal(self._text(meta), -item.value)
        return Neg(self._text(meta), item)

    # functions
    def _quant(kind):
        @v_args(meta=True)
        def build(self, meta, children):
            return Quant(self._text(meta), kind, str(children[0]), children[1], children[2])
        return build

    any_ = _quant("any")
    all_ = _quant("all")
    count_ = _quant("count")

    @v_args(meta=True)
    def total(self, meta, children):
        return Total(self._text(meta), str(children[0]), children[1], children[2])

    @v_args(meta=True)
    def signal(self, meta, children):
        return Signal(self._text(meta), str(children[0]))

    @v_args(meta=True)
    def present(self, meta, children):
        return Presence(self._text(meta), True, children[0])

    @v_args(meta=True)
    def missing(self, meta, children):
        return Presence(self._text(meta), False, children[0])

    @v_args(meta=True)
    def data_issue(self, meta, children):
        return DataIssue(self._text(meta), children[0])

    @v_args(meta=True)
    def overdue_follow_up(self, meta, children):
        return OverdueFollowUp(self._text(meta), str(children[0]))

    def _strfunc(kind):
        @v_args(meta=True)
        def build(self, meta, children):
            return StrFunc(self._text(meta), kind, children[0], _string(children[1]))
        return build

    matches = _strfunc("matches")
    contains = _strfunc("contains")
    starts_with = _strfunc("starts_with")
    ends_with = _strfunc("ends_with")


_TOKEN_NAMES = {
    "NAME": "a field or name", "NUMBER": "a number", "STRING": "a quoted string",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "COLON": "':'",
    "DOT": "'.'", "$END": "the end of the condition",
}


def _describe_expected(expected) -> str:
    names = []
    for name in sorted(expected):
        if (name.startswith("__ANON") and name not in _TOKEN_NAMES) or name in ("MINUS", "PLUS", "STAR", "SLASH"):
            continue
        pretty = _TOKEN_NAMES.get(name)
        if pretty is None:
            pretty = name.lower()
        names.append(pretty)
    return ", ".join(names[:8])


# Every later stage (type-check, compile, explain) walks a condition recursively; these
# bounds keep that walk far from Python's recursion limit and its cost small.
MAX_LENGTH = 4000      # characters
MAX_DEPTH = 32         # operators nested within each other
MAX_TERMS = 256        # operators and operands


def parse(source: str) -> Node:
    """Parse a condition, raising ConditionSyntaxError with a column and a readable message."""
    if not isinstance(source, str) or not source.strip():
        raise ConditionSyntaxError("the condition is empty")
    if len(source) > MAX_LENGTH:
        raise ConditionSyntaxError(f"the condition is too long ({len(source):,} characters; at most "
                                   f"{MAX_LENGTH:,}): split it across rules and signals")
    try:
        node = _parse(source)
    except RecursionError:
        raise ConditionSyntaxError(f"the condition is nested too deeply (at most {MAX_DEPTH} levels)") from None
    depth, terms = _size(node)
    if depth > MAX_DEPTH:
        raise ConditionSyntaxError(f"the condition is nested too deeply ({depth} levels; at most {MAX_DEPTH})")
    if terms > MAX_TERMS:
        raise ConditionSyntaxError(f"the condition is too large ({terms} terms; at most {MAX_TERMS}): "
                                   "split it across rules and signals")
    return node


def _size(node: Node) -> tuple[int, int]:
    """The nesting depth and the number of nodes of a condition, without recursion."""
    depth = terms = 0
    todo = [(node, 1)]
    while todo:
        item, level = todo.pop()
        terms += 1
        depth = max(depth, level)
        todo.extend((child, level + 1) for child in item.children())
    return depth, terms


def _parse(source: str) -> Node:
    try:
        tree = _parser().parse(source)
        return _Build(source).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, (ConditionSyntaxError, RecursionError)):
            raise exc.orig_exc from None
        raise
    except UnexpectedEOF:
        raise ConditionSyntaxError("the condition ends too early", len(source)) from None
    except UnexpectedToken as exc:
        token = exc.token
        if "NAME" in exc.expected and "NUMBER" in exc.expected:
            expected = "a field, a value, or a condition"
        else:
            expected = _describe_expected(exc.expected)
        if token.type == "$END":
            msg = "syntax error: the condition ends too early"
            column = len(source.rstrip())
        else:
            column = exc.column
            msg = f"syntax error at column {column}: unexpected {str(token)!r}"
        if expected:
            msg += f"; expected {expected}"
        raise ConditionSyntaxError(msg, column) from None
    except UnexpectedCharacters as exc:
        char = source[exc.pos_in_stream] if exc.pos_in_stream < len(source) else "?"
        hint = " (use == to compare, and double quotes for text)" if char in "='" else ""
        raise ConditionSyntaxError(f"syntax error at column {exc.column}: unexpected character {char!r}{hint}",
                                   exc.column) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark errors
        raise ConditionSyntaxError(f"syntax error: {exc}") from None
