"""How a hash chain's records are hashed: each column unambiguously (a type tag, the
length, the bytes), after a format name, with SHA-256. The decision log (chain.py) and
the audit events (audit_chain.py) use it, each under its own format name.

The encoding is fixed: a record's hashes are evidence and must mean the same thing for
as long as the record is kept.
"""

from __future__ import annotations

import hashlib


def field(value) -> bytes:
    """One column, unambiguously: a type tag, the length, the bytes. Text is hashed as its
    UTF-8 bytes (SQLite's own storage), so verify can read columns as blobs and still
    check a column that was made invalid UTF-8."""
    kind = type(value)
    if kind is str:  # most columns: the same bytes as below, in one step
        data = value.encode("utf-8", "surrogatepass")
        return b"s%d:%b;" % (len(data), data)
    if kind is int:
        return b"i%d;" % value
    if value is None:
        return b"n;"
    if isinstance(value, bool):  # never stored, but never hashed like an integer either
        raise TypeError("a column cannot be a boolean")
    if isinstance(value, int):
        return b"i" + str(value).encode() + b";"
    if isinstance(value, float):
        return b"f" + repr(value).encode() + b";"
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return b"s" + str(len(data)).encode() + b":" + data + b";"
    raise TypeError(f"cannot hash a {type(value).__name__}")


def digest(fmt: bytes, values) -> str:
    return hashlib.sha256(fmt + b"".join(map(field, values))).hexdigest()
