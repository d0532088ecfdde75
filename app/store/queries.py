"""What a caller sends into a query, checked before any SQL: page cursors and filter text.

A cursor is the ``seq`` of the last row of the page before, which SQLite holds in 64
bits: a cursor of 25 digits is not one the service gave out, and Python's sqlite3 would
refuse to bind it. A NUL byte ends a string for SQLite's full-text query parser (the
words before it are searched, the quote after it is lost), so no filter may hold one.
"""

from __future__ import annotations

import re

from app.store.errors import InvalidRequest

MAX_SEQ = 2 ** 63 - 1
_SEQ = re.compile(r"[0-9]{1,19}")


def seq_from_cursor(text: str | None) -> int:
    """The seq a cursor names, or InvalidRequest (a 422 naming ``cursor``)."""
    if isinstance(text, str) and _SEQ.fullmatch(text):
        seq = int(text)
        if seq <= MAX_SEQ:
            return seq
    raise InvalidRequest("The cursor is not one this service gave out.",
                         [{"path": "cursor", "message": "Not a cursor."}])


def check_text(**filters: object) -> None:
    """InvalidRequest naming each filter (by its name here) whose text holds a NUL byte."""
    bad = sorted(name for name, value in filters.items() if isinstance(value, str) and "\x00" in value)
    if bad:
        raise InvalidRequest(f"A search filter holds a NUL byte: {', '.join(bad)}.",
                             [{"path": name, "message": "Holds a NUL byte (\\u0000)."} for name in bad])
