"""The audit events' hash chain, like the decision log's (chain.py).

Each event carries ``content_hash``, over its columns (id, time, actor, key, action,
target, hashes before and after, details as stored), and ``chain_hash`` =
sha256(previous event's chain hash | content hash | seq), from a fixed genesis value. Both
are computed inside the transaction that writes the event, from the event before it, so
two writers cannot chain from the same event. The table is append-only (triggers); the
chain shows whether someone went around the triggers: an event edited, deleted, inserted
or cut from the end.

The format is fixed: a new format would be a new name below, never a change. Migration
m015 chained the events written before it with a frozen copy of this format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.store import hashing

FORMAT = b"vigil.audit.v1"
GENESIS = hashlib.sha256(b"vigil audit events genesis v1").hexdigest()
CONTENT = ("id", "at", "actor", "key_id", "action", "target", "hash_before", "hash_after", "details")


def content_hash(row: dict) -> str:
    """The content hash of an event given as a mapping of its columns."""
    return hashing.digest(FORMAT, (row[c] for c in CONTENT))


def chain_hash(previous: str, content: str, seq: int) -> str:
    return hashlib.sha256(f"{previous}|{content}|{int(seq)}".encode()).hexdigest()


def last(db) -> tuple[int, str]:
    """(seq, chain hash) of the last event (0 and the genesis value when there is none),
    for the exported head."""
    row = db.execute("SELECT seq, chain_hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def next_link(db) -> tuple[int, str]:
    """(the seq the next event gets, the chain hash it chains from). Call inside the
    writing transaction."""
    row = db.execute("SELECT seq, chain_hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    issued = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'").fetchone()
    last_seq, last_chain = (row[0], row[1]) if row else (0, GENESIS)
    return max(last_seq, issued[0] if issued else 0) + 1, last_chain


# ---------------------------------------------------------------- verify


@dataclass(frozen=True)
class AuditBreak:
    """The first broken audit event and how it broke."""

    kind: str          # edited | deleted | inserted | truncated
    seq: int
    event_id: str | None
    message: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "seq": self.seq, "event_id": self.event_id, "message": self.message}


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    checked: int
    last_seq: int
    problem: AuditBreak | None = None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "last_seq": self.last_seq,
                "problem": self.problem.to_dict() if self.problem else None}


_COLUMNS = ("seq", *CONTENT, "content_hash", "chain_hash")
# Text is read as blobs: a byte changed into invalid UTF-8 is still a byte to hash.
_SELECT = "SELECT " + ", ".join(c if c == "seq" else f"CAST({c} AS BLOB)" for c in _COLUMNS) + \
    " FROM audit_events ORDER BY seq"


def _text(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def _rows(db) -> Iterator[dict]:
    cursor = db.execute(_SELECT)
    try:
        for raw in cursor:
            yield dict(zip(_COLUMNS, raw))
    finally:
        cursor.close()


def count(db) -> int:
    return db.execute("SELECT count(*) FROM audit_events").fetchone()[0]


def verify(db, progress: Callable[[int], None] | None = None, against=None) -> AuditVerification:
    """Walk every audit event in seq order and name the first broken one. Call inside a
    read transaction (chain.verify does, for the decisions and the events together).
    ``progress(checked)`` is called every few thousand events. ``against``: an exported
    head (chain.Head); when it names where the events ended, they must still reach it."""
    prev_seq, prev_chain, checked = 0, GENESIS, 0
    problem = None
    head_seq = getattr(against, "audit_seq", None)
    at_head = GENESIS if head_seq == 0 else None
    rows = _rows(db)
    try:
        for row in rows:
            problem = _check(row, prev_seq, prev_chain)
            if problem is not None:
                break
            checked += 1
            prev_seq, prev_chain = row["seq"], _text(row["chain_hash"])
            if prev_seq == head_seq:
                at_head = prev_chain
            if progress is not None and checked % 2000 == 0:
                progress(checked)
    finally:
        rows.close()
    if problem is None:
        issued = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'").fetchone()
        issued = issued[0] if issued else 0
        if issued > prev_seq:
            span = str(issued) if issued == prev_seq + 1 else f"{prev_seq + 1} to {issued}"
            problem = AuditBreak("truncated", prev_seq + 1, None,
                                 f"audit events were numbered up to {issued} but end at {prev_seq}: "
                                 f"events {span} were deleted from the end")
    if problem is None and head_seq is not None:
        if head_seq > prev_seq:
            span = str(head_seq) if head_seq == prev_seq + 1 else f"{prev_seq + 1} to {head_seq}"
            problem = AuditBreak("truncated", prev_seq + 1, None,
                                 f"the exported head ends the audit events at seq {head_seq} but they end at "
                                 f"{prev_seq}: events {span} are missing")
        elif at_head != against.audit_chain_hash:
            problem = AuditBreak("edited", head_seq, None,
                                 f"the audit event at the exported head's seq {head_seq} no longer has the head's "
                                 "chain hash: the events up to it were rewritten")
    return AuditVerification(problem is None, checked, prev_seq, problem)


def _check(row: dict, prev_seq: int, prev_chain: str) -> AuditBreak | None:
    seq, event_id = row["seq"], _text(row["id"])
    if seq != prev_seq + 1:
        span = str(prev_seq + 1) if seq - 1 == prev_seq + 1 else f"{prev_seq + 1} to {seq - 1}"
        return AuditBreak("deleted", seq, event_id,
                          f"audit events {span} are missing before event {event_id} (seq {seq}): deleted")
    if row["content_hash"] is None or row["chain_hash"] is None:
        return AuditBreak("inserted", seq, event_id,
                          f"audit event {event_id} (seq {seq}) has no hashes: it was not written by Vigil")
    if content_hash(row) != _text(row["content_hash"]):
        return AuditBreak("edited", seq, event_id,
                          f"audit event {event_id} (seq {seq}) was changed after it was recorded: its content no "
                          "longer matches its content hash")
    if chain_hash(prev_chain, _text(row["content_hash"]), seq) != _text(row["chain_hash"]):
        return AuditBreak("edited", seq, event_id,
                          f"audit event {event_id} (seq {seq}) does not link to the event before it: it, or the "
                          "event before it, was rewritten with its hashes recomputed, or it was inserted")
    return None
