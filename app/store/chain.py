"""The decision log's hash chain: how a record's hashes are made, and checking them.

Each logged decision carries two hashes:

* ``content_hash``, over the record's content, in two halves: the part purge keeps (id,
  time, ruleset, level, review, masking) and the part purge removes (customer, request,
  snapshot, result, trail, response). Each half is hashed on its own and the content hash
  is the hash of the two, so a purged record, which keeps the removed half's digest
  (``purged_digest``), still proves its remaining columns.
* ``chain_hash`` = sha256(previous record's chain hash | content hash | seq), from a fixed
  genesis value. The seq is bound here rather than in the content hash: a record moved to
  another position keeps a content hash that matches its content, which is what lets
  ``verify`` tell a reordered record from an edited one.

The format is fixed: a record's hashes are evidence and must mean the same thing for as
long as the record is kept. A new format would be a new name below, never a change.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import sqlite_utils

from app.store import audit_chain, hashing, times
from app.store.errors import InvalidRequest, LogUnavailable

FORMAT = b"vigil.decision.v1"
GENESIS = hashlib.sha256(b"vigil decision log genesis v1").hexdigest()

# Kept by purge: enough to say that a decision was made, when, under which version and
# with which warning level, without saying about whom or on what.
# The last, the version of the engine's evaluation semantics, is recorded since
# migration m010: a record without one (NULL) is hashed without it, exactly as it was
# when it was logged, so its hashes still hold.
KEPT = ("id", "decided_at", "ruleset_id", "ruleset_version", "ruleset_hash", "level", "review_frequency",
        "masked", "semantics_version")
# Removed by purge: everything that identifies the customer or holds their data.
PURGED = ("customer_id", "client_request_id", "request_hash", "snapshot", "result", "trail", "response")
SEMANTICS = "semantics_version"


def digest(values) -> str:
    return hashing.digest(FORMAT, values)


def content_hash(kept_digest: str, purged_digest: str) -> str:
    return hashlib.sha256(FORMAT + b"|" + kept_digest.encode() + b"|" + purged_digest.encode()).hexdigest()


def kept_digest(row: dict) -> str:
    """The digest of the half of a record a purge keeps."""
    values = [row[c] for c in KEPT if c != SEMANTICS]
    if row.get(SEMANTICS) is not None:
        values.append(row[SEMANTICS])
    return digest(values)


def record_hash(row: dict) -> str:
    """The content hash of a record given as a mapping of its columns."""
    return content_hash(kept_digest(row), digest(row[c] for c in PURGED))


def chain_hash(previous: str, content: str, seq: int) -> str:
    return hashlib.sha256(f"{previous}|{content}|{int(seq)}".encode()).hexdigest()


# ---------------------------------------------------------------- the head

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Head:
    """Where the log ends: exported and kept elsewhere, it lets a later verify notice that
    records up to it were removed or rewritten (tail truncation included)."""

    seq: int
    chain_hash: str
    count: int
    at: str
    # Where the audit events' chain ended (audit_chain.py); None in a head exported
    # before they were chained.
    audit_seq: int | None = None
    audit_chain_hash: str | None = None

    def to_dict(self) -> dict:
        out = {"seq": self.seq, "chain_hash": self.chain_hash, "count": self.count, "at": self.at}
        if self.audit_seq is not None:
            out.update(audit_seq=self.audit_seq, audit_chain_hash=self.audit_chain_hash)
        return out

    @classmethod
    def from_dict(cls, data) -> "Head":
        try:
            seq, chain, count = data["seq"], data["chain_hash"], data.get("count")
            if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
                raise ValueError("seq")
            if not isinstance(chain, str) or not _HEX64.fullmatch(chain):
                raise ValueError("chain_hash")
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
                raise ValueError("count")
            audit_seq, audit_chain = data.get("audit_seq"), data.get("audit_chain_hash")
            if audit_seq is not None or audit_chain is not None:
                if isinstance(audit_seq, bool) or not isinstance(audit_seq, int) or audit_seq < 0:
                    raise ValueError("audit_seq")
                if not isinstance(audit_chain, str) or not _HEX64.fullmatch(audit_chain):
                    raise ValueError("audit_chain_hash")
                audit_chain = audit_chain.lower()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidRequest("The head is not one this service exports: {seq, chain_hash, count, at}.",
                                 [{"path": "head", "message": f"bad or missing {exc}"}]) from None
        return cls(seq, chain.lower(), count if count is not None else -1, str(data.get("at") or ""),
                   audit_seq, audit_chain)


def last_link(db: sqlite_utils.Database) -> tuple[int, str, int]:
    """(seq of the last record, its chain hash, the last seq ever issued) - what the next
    record chains from. Call inside the writing transaction."""
    # One statement: the write lock is held while this runs.
    last_seq, last_chain, issued = db.execute(_LAST_LINK).fetchone()
    if last_seq is None:
        last_seq, last_chain = 0, GENESIS
    return last_seq, last_chain, max(last_seq, issued or 0)


_LAST_LINK = ("SELECT last.seq, last.chain_hash, (SELECT seq FROM sqlite_sequence WHERE name = 'decisions') "
              "FROM (SELECT 1) LEFT JOIN (SELECT seq, chain_hash FROM decisions ORDER BY seq DESC LIMIT 1) AS last")


def head(db: sqlite_utils.Database) -> Head:
    try:
        db.execute("BEGIN")
        try:
            row = db.execute("SELECT seq, chain_hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
            count = db.execute("SELECT count(*) FROM decisions").fetchone()[0]
            audit_seq, audit_chain_hash = audit_chain.last(db)
        finally:
            db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    seq, chain = (row[0], row[1]) if row else (0, GENESIS)
    return Head(seq, chain, count, times.iso(times.now()), audit_seq, audit_chain_hash)


# ---------------------------------------------------------------- verify


@dataclass(frozen=True)
class Break:
    """The first broken record and how it broke."""

    kind: str          # edited | deleted | inserted | reordered | truncated
    seq: int
    decision_id: str | None
    message: str
    related_seq: int | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "seq": self.seq, "decision_id": self.decision_id, "message": self.message,
                "related_seq": self.related_seq}


@dataclass(frozen=True)
class Verification:
    """``ok`` when the decisions and the audit events are both intact; ``problem`` is the
    first broken decision, ``audit.problem`` the first broken audit event."""

    ok: bool
    checked: int
    purged: int
    head: Head
    problem: Break | None = None
    against: dict | None = field(default=None)
    audit: audit_chain.AuditVerification | None = None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "purged": self.purged, "head": self.head.to_dict(),
                "problem": self.problem.to_dict() if self.problem else None, "against_head": self.against,
                "audit_events": self.audit.to_dict() if self.audit else None}

    def summary(self) -> dict:
        """What the verification found, without the head: the details of its audit event."""
        out = self.to_dict()
        del out["head"], out["purged"]
        return out


_COLUMNS = ("seq", *KEPT, *PURGED, "content_hash", "chain_hash", "purged_at", "purged_digest")
_TEXT = set(_COLUMNS) - {"seq", "ruleset_version", SEMANTICS}
# Text columns are read as blobs: a byte changed into invalid UTF-8 is still a byte to hash.
_SELECT = "SELECT " + ", ".join(f"CAST({c} AS BLOB)" if c in _TEXT else c for c in _COLUMNS) + " FROM decisions"


@dataclass
class _Row:
    seq: int
    id: str
    values: dict
    content_hash: str
    chain_hash: str
    purged: bool

    def computed(self) -> str | None:
        """The content hash its columns give now, or None when a purge left it half done."""
        if self.purged:
            if any(self.values[c] is not None for c in PURGED) or not self.values["purged_digest"]:
                return None
            purged_digest = _text(self.values["purged_digest"])
        else:
            purged_digest = digest(self.values[c] for c in PURGED)
        return content_hash(kept_digest(self.values), purged_digest)


def _text(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def _row(raw: tuple) -> _Row:
    values = dict(zip(_COLUMNS, raw))
    return _Row(seq=values["seq"], id=_text(values["id"]), values=values,
                content_hash=_text(values["content_hash"]), chain_hash=_text(values["chain_hash"]),
                purged=values["purged_at"] is not None)


def _rows(db, where: str = "", params=()) -> Iterator[_Row]:
    cursor = db.execute(f"{_SELECT} {where} ORDER BY seq", list(params))
    try:
        for raw in cursor:
            yield _row(raw)
    finally:
        cursor.close()


def _one(db, seq: int) -> _Row | None:
    return next(_rows(db, "WHERE seq = ?", [seq]), None)


def verify(db: sqlite_utils.Database, against: Head | None = None,
           progress: Callable[[int, int], None] | None = None) -> Verification:
    """Walk the whole log in seq order, in one read transaction and constant memory, and
    report the first broken record and how it broke; then the audit events' chain the
    same way (audit_chain.py). With ``against`` (a head exported earlier), also check
    that the log still reaches that head unchanged. ``progress(done, total)``, when
    given, is called every few thousand records (decisions and events together).

    Only when a record is found broken are further passes made over the log, to tell
    a record moved elsewhere from one edited or inserted."""
    try:
        db.execute("BEGIN")
        try:
            total = 0
            if progress is not None:
                total = db.execute("SELECT count(*) FROM decisions").fetchone()[0] + audit_chain.count(db)
                progress(0, total)
            report = _verify(db, against, (lambda done: progress(done, total)) if progress else None)
            decisions = report.checked + (report.problem is not None)
            audit = audit_chain.verify(db, (lambda done: progress(decisions + done, total)) if progress else None,
                                       against=against)
            if progress is not None:
                progress(total, total)
            return replace(report, ok=report.ok and audit.ok, audit=audit)
        finally:
            db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def _verify(db, against: Head | None, progress: Callable[[int], None] | None = None) -> Verification:
    prev_seq, prev_chain = 0, GENESIS
    checked = purged = 0
    problem: Break | None = None
    chains_at: dict[int, str] = {}  # only the chain hash of the head's seq is remembered
    rows = _rows(db)
    try:
        pending = next(rows, None)
        while pending is not None:
            row, pending = pending, next(rows, None)
            problem = _check(db, row, pending, prev_seq, prev_chain)
            if problem is not None:
                break
            checked += 1
            purged += row.purged
            prev_seq, prev_chain = row.seq, row.chain_hash
            if progress is not None and checked % 2000 == 0:
                progress(checked)
            if against is not None and row.seq == against.seq:
                chains_at[row.seq] = row.chain_hash
    finally:
        rows.close()
    last = db.execute("SELECT seq, chain_hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
    count = db.execute("SELECT count(*) FROM decisions").fetchone()[0]
    now = Head(last[0] if last else 0, last[1] if last else GENESIS, count, times.iso(times.now()),
               *audit_chain.last(db))
    if problem is None:
        issued = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'").fetchone()
        issued = issued[0] if issued else 0
        if issued > prev_seq:
            problem = Break("truncated", prev_seq + 1, None,
                            f"seq was issued up to {issued} but the log ends at {prev_seq}: "
                            f"records {_span(prev_seq + 1, issued)} were deleted from the end")
    report = None
    if against is not None:
        report = {"seq": against.seq, "chain_hash": against.chain_hash, "ok": True}
        if problem is None:
            if against.seq > prev_seq:
                problem = Break("truncated", prev_seq + 1, None,
                                f"the exported head is at seq {against.seq} but the log ends at {prev_seq}: "
                                f"records {_span(prev_seq + 1, against.seq)} are missing")
            elif against.seq == 0:
                if against.chain_hash != GENESIS:
                    problem = Break("edited", 0, None, "the exported head is not one of this log")
            elif chains_at.get(against.seq) != against.chain_hash:
                problem = Break("edited", against.seq, None,
                                f"the record at the exported head's seq {against.seq} no longer has the head's "
                                "chain hash: the log up to it was rewritten")
            elif against.count >= 0:
                upto = db.execute("SELECT count(*) FROM decisions WHERE seq <= ?", [against.seq]).fetchone()[0]
                if upto != against.count:
                    problem = Break("deleted", against.seq, None,
                                    f"the exported head counted {against.count} records up to seq {against.seq}; "
                                    f"the log holds {upto}")
        report["ok"] = problem is None
    return Verification(ok=problem is None, checked=checked, purged=purged, head=now, problem=problem,
                        against=report)


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first} to {last}"


def _check(db, row: _Row, following: _Row | None, prev_seq: int, prev_chain: str) -> Break | None:
    if row.seq != prev_seq + 1:
        moved = _find(db, lambda r: chain_hash(prev_chain, r.content_hash, prev_seq + 1) == r.chain_hash)
        if moved is not None:
            return Break("reordered", row.seq, row.id,
                         f"decision {moved.id}, logged at seq {prev_seq + 1}, was moved to seq {moved.seq}",
                         related_seq=moved.seq)
        return Break("deleted", row.seq, row.id,
                     f"records {_span(prev_seq + 1, row.seq - 1)} are missing before decision {row.id} "
                     f"(seq {row.seq}): deleted", related_seq=prev_seq + 1)
    computed = row.computed()
    if computed is None:
        return Break("edited", row.seq, row.id,
                     f"decision {row.id} (seq {row.seq}) is marked purged but its content was not removed "
                     "the way purge removes it")
    if computed != row.content_hash:
        other = _find(db, lambda r: r.seq != row.seq and r.content_hash == computed)
        if other is not None:
            return Break("reordered", row.seq, row.id,
                         f"the content at seq {row.seq} is the content logged at seq {other.seq} "
                         f"(decision {other.id}): records swapped", related_seq=other.seq)
        return Break("edited", row.seq, row.id,
                     f"decision {row.id} (seq {row.seq}) was changed after it was logged: its content no "
                     "longer matches its content hash")
    expected = chain_hash(prev_chain, row.content_hash, row.seq)
    if expected == row.chain_hash:
        return None
    # Its content is intact but it does not link to the record before it.
    if following is not None and following.seq == row.seq + 1 and \
            chain_hash(expected, following.content_hash, following.seq) == following.chain_hash:
        return Break("edited", row.seq, row.id,
                     f"the chain hash of decision {row.id} (seq {row.seq}) was changed")
    # Is the record that belongs at this position elsewhere?
    rightful = _find(db, lambda r: r.seq != row.seq and chain_hash(prev_chain, r.content_hash, row.seq) == r.chain_hash)
    if rightful is not None:
        before = _one(db, rightful.seq - 1)
        if any(b is not None and chain_hash(b.chain_hash, row.content_hash, rightful.seq) == row.chain_hash
               for b in (before, rightful)):
            return Break("reordered", row.seq, row.id,
                         f"decision {row.id} was logged at seq {rightful.seq} and decision {rightful.id} at seq "
                         f"{row.seq}: records swapped", related_seq=rightful.seq)
        return Break("inserted", row.seq, row.id,
                     f"decision {row.id} at seq {row.seq} was not written by the log: it does not link to the "
                     f"record before it, and decision {rightful.id}, logged at seq {row.seq}, now sits at seq "
                     f"{rightful.seq}", related_seq=rightful.seq)
    if following is not None and following.seq == row.seq + 1:
        return _rewritten(db, row, following, prev_seq)
    return Break("inserted", row.seq, row.id,
                 f"decision {row.id} at seq {row.seq} does not link to the record before it: it was not written "
                 "by the log (inserted), or its chain hash was forged")


def _rewritten(db, row: _Row, following: _Row, prev_seq: int) -> Break:
    """A record in the middle of the log, its content matching its content hash, that
    does not link to the record before it: no record is missing or out of place, so a
    record here was rewritten with its hashes recomputed to match.

    When the next record links to this one's chain hash, that chain hash is the one
    the log wrote, so one of two things happened, and the hashes alone cannot tell
    which: this record's content was rewritten with its content hash (its chain hash
    still binds the old content), or the record before it was rewritten with both its
    hashes (this record's chain hash still binds the old one). Both are named.
    When the next record does not link to it either, its chain hash was rewritten too:
    this record is the one changed."""
    if chain_hash(row.chain_hash, following.content_hash, following.seq) != following.chain_hash:
        return Break("edited", row.seq, row.id,
                     f"decision {row.id} (seq {row.seq}) was changed after it was logged: its content and both "
                     "its hashes were rewritten, and it links neither to the record before it nor to the one "
                     "after")
    if prev_seq == 0:
        return Break("edited", row.seq, row.id,
                     f"decision {row.id} (seq {row.seq}) was changed after it was logged, with its content hash "
                     "recomputed: it no longer links to the start of the log")
    before = _one(db, prev_seq)
    named = f"decision {before.id} (seq {prev_seq})"
    return Break("edited", row.seq, row.id,
                 f"decision {row.id} (seq {row.seq}) does not link to {named} before it, though each matches "
                 f"its content hash and the records after it link on: decision {row.id} was changed with its "
                 f"content hash recomputed, or {named} was changed with its content hash and chain hash "
                 "recomputed", related_seq=prev_seq)


def _find(db, matches) -> _Row | None:
    for candidate in _rows(db):
        if matches(candidate):
            return candidate
    return None
