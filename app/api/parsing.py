"""Reading request bodies: JSON only, numbers with a fraction as exact decimals."""

from __future__ import annotations

import json
from decimal import Decimal

from marshmallow.utils import missing
from webargs.core import is_json
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.errors import MalformedJSON, RequestInvalid, UnsupportedMediaType
from app.core.bounds import find_unbounded


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


def parse_json_body(data: bytes, parse_float=Decimal):
    """Parse a request body. Money must never pass through a float, so every number
    with a fraction or exponent becomes a Decimal; NaN and Infinity are refused, and so
    is an object that has the same key twice."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJSON("The request body is not UTF-8.") from None
    if not text.strip():
        raise MalformedJSON("The request body is empty.")
    try:
        document = json.loads(text, parse_float=parse_float, parse_constant=_no_constants,
                              object_pairs_hook=_unique_keys)
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
    unbounded = find_unbounded(document)
    if unbounded:
        raise RequestInvalid("A number in the request is out of range.", unbounded)
    return document


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
    def load_json(self, req, schema):
        if not is_json(req.mimetype):
            raise UnsupportedMediaType()
        return parse_json_body(request_body(req))


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
