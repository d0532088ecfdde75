"""Regular expressions of ``matches``: RE2, so matching takes time linear in the text.

Python's ``re`` backtracks: a pattern such as ``(a+)+$`` takes exponential time on a
crafted text, so one customer id could hold a worker for hours. RE2 (google-re2) never
backtracks; it has no backreferences or lookaround, and a pattern that needs them is
refused when the ruleset is loaded. Patterns and the texts they are matched against are
bounded too.
"""
from __future__ import annotations

from functools import lru_cache

import re2

MAX_PATTERN = 500        # characters of a pattern
MAX_TEXT = 10_000        # characters of a text: a longer text is not matched (unknown)
MAX_MEMORY = 8 << 20     # bytes RE2 may use for one compiled pattern

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = MAX_MEMORY


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str):
    """The compiled pattern, or ValueError saying why it is refused."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"the pattern is too long ({len(pattern):,} characters; at most {MAX_PATTERN})")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression {pattern!r}: {reason} (patterns are RE2 syntax: "
                         "no backreferences or lookaround)") from None


def full_match(pattern: str, text: str) -> bool | None:
    """Whether ``text`` matches ``pattern`` as a whole; None (unknown) for a text over MAX_TEXT."""
    if len(text) > MAX_TEXT:
        return None
    return compile_pattern(pattern).fullmatch(text) is not None
