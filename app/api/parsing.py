"""Reading request bodies: JSON only, numbers with a fraction as exact decimals."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from marshmallow import RAISE
from marshmallow.utils import missing
from webargs.core import is_json
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.errors import MalformedJSON, RequestInvalid, UnsupportedMediaType
from app.core.bounds import TEXT_PROBLEM, find_unbounded


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list) -> dict:
    """An object whose keys are all different. JSON parsers disagree on which of two
    equal keys wins (the first, the last, an error), so a body with both could mean one
    thing to a proxy or a signature check and another here: refused."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


class RefusedItem:
    """An item of a list read one by one (a batch's items) that holds a number out of
    range or text that is not Unicode: it fails alone, with these details."""

    def __init__(self, details: list[dict]):
        self.details = details


# The only way a lone surrogate gets into a string: a \uD800-\uDFFF escape (UTF-8
# cannot encode one). A body without such an escape needs no look at its strings.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
# A number out of bounds (app/core/bounds.py: more than 28 digits, 28 places or a
# magnitude of 1e28) is written with 29 or more digits and points after its first digit,
# or with an exponent, which JSON writes straight after a digit. A body with neither
# (strings are searched too, so this only ever errs towards looking) needs no look at its
# numbers. (The common first digit lets the search skip ahead to digits.)
_RISKY_NUMBER = re.compile(r"[0-9](?:[0-9.]{28}|[eE])")


def _refuse_items(document, items: str, problems: list[dict]) -> list[dict]:
    """Replace each item of ``document[items]`` that has a problem by a RefusedItem with
    its problems (paths from the item); return the problems outside the items."""
    listed = document.get(items) if isinstance(document, dict) else None
    if not isinstance(listed, list):
        return problems
    rest, by_item = [], {}
    for problem in problems:
        head, _, tail = problem["path"].partition(".")
        index, _, inner = tail.partition(".")
        if head == items and index.isdigit() and int(index) < len(listed):
            by_item.setdefault(int(index), []).append({**problem, "path": inner or "$"})
        else:
            rest.append(problem)
    for index, details in by_item.items():
        listed[index] = RefusedItem(details)
    return rest


_DECODERS: dict = {}


def _decoder(parse_float) -> json.JSONDecoder:
    """The decoder for bodies whose fractions become ``parse_float``: made once (a decoder
    holds no state between documents, so threads share it)."""
    decoder = _DECODERS.get(parse_float)
    if decoder is None:
        decoder = _DECODERS.setdefault(parse_float, json.JSONDecoder(
            parse_float=parse_float, parse_constant=_no_constants, object_pairs_hook=_unique_keys))
    return decoder


def parse_json_body(data: bytes, parse_float=Decimal, items: str | None = None):
    """Parse a request body. Money must never pass through a float, so every number
    with a fraction or exponent becomes a Decimal; NaN and Infinity are refused, and so
    is an object that has the same key twice, any number out of bounds and any text that
    is not Unicode (a lone surrogate), each named by its path. ``items``: the key of a
    list whose items are read one by one; a bad item becomes a ``RefusedItem`` instead."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJSON("The request body is not UTF-8.") from None
    if not text.strip():
        raise MalformedJSON("The request body is empty.")
    try:
        document = _decoder(parse_float).decode(text)
    except _DuplicateKey as exc:
        shown = exc.key if len(exc.key) <= 64 else exc.key[:64] + "..."
        raise MalformedJSON(f"The key {json.dumps(shown)} appears twice in one object; send each key once.",
                            [{"key": shown, "message": "This key appears twice in one object."}]) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise MalformedJSON(f"The request body is not valid JSON: {exc.msg} at {where}.",
                            [{"path": "$", "line": exc.lineno, "column": exc.colno, "message": exc.msg}]) from None
    except (ValueError, RecursionError):
        # ValueError covers syntax errors and integers too long to convert;
        # RecursionError a body nested deeper than the parser can follow.
        raise MalformedJSON() from None
    # before any schema turns a number into an int: 1e1000000 is a million digits
    strings = _SURROGATE_ESCAPE.search(text) is not None
    problems = find_unbounded(document, strings=strings) if strings or _RISKY_NUMBER.search(text) else []
    if problems and items:
        problems = _refuse_items(document, items, problems)
    if problems:
        raise RequestInvalid(_problem_message(problems), problems)
    return document


def _problem_message(problems: list[dict]) -> str:
    texts = sum(1 for p in problems if p["message"] == TEXT_PROBLEM)
    if not texts:
        return "A number in the request is out of range."
    if texts == len(problems):
        return "A text in the request is not valid Unicode (a lone UTF-16 surrogate)."
    return "A number in the request is out of range, and a text is not valid Unicode."


_DRAIN = 64 * 1024


def request_body(req) -> bytes:
    """The request body, or RequestEntityTooLarge (413) when it is over the size limit.

    A body with Content-Length over the limit is refused before it is read. One sent
    chunked has no length: Werkzeug reads it up to the limit and silently stops there,
    which would hand a cut-off body to the JSON parser. So a chunked body that fills the
    limit is checked for one byte more, and refused like any other body that is too large."""
    data = req.get_data(cache=True)
    limit = req.max_content_length
    if req.content_length is None and limit is not None and len(data) >= limit:
        stream = req.environ["wsgi.input"]
        if stream.read(1):
            # Read a little of the rest, no more: a body just over the limit is then read
            # to its end, and the client gets the 413 rather than a reset connection.
            stream.read(_DRAIN)
            raise RequestEntityTooLarge()
    return data


class DecimalJSONParser(FlaskParser):
    # A query parameter no operation reads is refused (422 naming it), as an unknown key
    # of a body is: a misspelt filter (`custmer_id=`) must not search, or export, everything.
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE, "querystring": RAISE}

    def load_json(self, req, schema):
        if not is_json(req.mimetype):
            raise UnsupportedMediaType()
        return parse_json_body(request_body(req), items=getattr(schema, "items_one_by_one", None))


class PolicyJSONParser(FlaskParser):
    """Governance bodies. A policy document's numbers are read as YAML reads them
    (a fraction is a float), so a document sent as JSON and the same document sent as
    YAML text are stored, and hashed, alike. An empty body is no arguments."""

    def load_json(self, req, schema):
        data = request_body(req)
        if not data:
            return missing
        if not is_json(req.mimetype):
            raise UnsupportedMediaType()
        return parse_json_body(data, parse_float=float)


class OptionalJSONParser(DecimalJSONParser):
    """Bodies that may be left out (a replay, a hold's release): an empty body is no
    arguments; a body is JSON, numbers with a fraction exact decimals."""

    def load_json(self, req, schema):
        if not request_body(req):
            return missing
        return super().load_json(req, schema)
