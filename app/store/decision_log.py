"""The decision log: every decision answered, with what it was made from.

The log is a hash chain (see chain.py): record() gives each decision its content hash
and links it to the one before it, under the write lock, so the chain stays one line
whichever gunicorn worker writes. What the log is searched by (search.py) is built from
the logged rows when a search needs it, not here: the write lock is shared by every
worker, and indexing the explanation's text would hold it three times as long.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlite_utils

from app.store import chain, tasks
from app.store.db import immediate, still_on_disk, writable
from app.store.audit import person_id
from app.store.errors import DecisionNotFound, DecisionPurged, LogUnavailable


def scoped_request_id(caller: str, client_request_id: str | None) -> str | None:
    """How the log keeps a caller's client_request_id: one caller's ids never meet
    another's, so no caller can replay, block or probe another's. ``caller`` is the
    person behind the key (its owner, as app.store.audit.person_id compares people), so a
    retry with a rotated key of the same owner still finds the first decision. The log
    keeps ``<caller>/<id>`` with ``%`` and ``/`` in the caller escaped, so the first ``/``
    ends it."""
    if client_request_id is None:
        return None
    return f"{person_id(caller).replace('%', '%25').replace('/', '%2F')}/{client_request_id}"


@dataclass(frozen=True)
class Decision:
    """One decision as logged. `response` is the JSON body exactly as answered."""

    id: str
    decided_at: str
    customer_id: str
    ruleset_id: str
    ruleset_version: int
    ruleset_hash: str
    client_request_id: str | None
    request_hash: str
    level: str | None
    review_frequency: str | None
    snapshot: str
    result: str
    trail: str
    response: str
    # How the personal fields of the snapshot were masked before logging (see
    # app/engine/masking.py), e.g. "hmac-sha256:<key id>"; None when they were not.
    masked: str | None = None
    # The version of the engine's evaluation semantics the decision was made under
    # (app.engine.SEMANTICS_VERSION); None for decisions logged before it was recorded.
    semantics_version: int | None = None


@dataclass(frozen=True)
class Logged:
    """What record() did with one decision: `decision` is what is in the log now.
    `replayed` is true when the client request id was already logged, in which
    case `decision` is that earlier decision and nothing new was written."""

    decision: Decision
    replayed: bool


_COLUMNS = tuple(Decision.__dataclass_fields__)
_WRITTEN = ("seq", *_COLUMNS, "content_hash", "chain_hash")
_INSERT = (
    f"INSERT INTO decisions ({', '.join(_WRITTEN)}) "
    f"VALUES ({', '.join('?' for _ in _WRITTEN)}) "
    "ON CONFLICT (client_request_id) DO NOTHING"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM decisions"


def _row(row: tuple) -> Decision:
    return Decision(**dict(zip(_COLUMNS, row)))


def record(db: sqlite_utils.Database, decisions: Sequence[Decision],
           follow_ups: Sequence[tasks.FollowUps | None] | None = None) -> list[Logged]:
    """Append decisions to the log in one transaction, in order, each linked to the one
    before it in the hash chain. ``follow_ups`` (one per decision, or None): the tasks
    each decision asks for, opened or updated in the same transaction when the decision
    is written, and not for a decision already logged under its client_request_id.

    This is the only function that writes decisions. When it returns, every one of
    them is committed; when it raises LogUnavailable, none of them was.
    """
    logged: list[Logged] = []
    # A content hash does not depend on the record's place in the log: worked out
    # before taking the lock.
    hashes = [chain.record_hash(d.__dict__) for d in decisions]
    try:
        with immediate(db):
            # IMMEDIATE holds the write lock from here to COMMIT, across every worker,
            # so no other record can come between the one read here and ours.
            _, previous, seq = chain.last_link(db)
            for index, (decision, content) in enumerate(zip(decisions, hashes)):
                linked = chain.chain_hash(previous, content, seq + 1)
                cursor = db.execute(_INSERT, (seq + 1, *map(decision.__dict__.__getitem__, _COLUMNS),
                                              content, linked))
                if cursor.rowcount == 1:
                    seq, previous = seq + 1, linked
                    if follow_ups is not None and follow_ups[index] is not None:
                        tasks.apply(db, decision.id, decision.customer_id, decision.decided_at, follow_ups[index])
                    logged.append(Logged(decision, replayed=False))
                    continue
                earlier = _by_client_request_id(db, decision.client_request_id)
                if earlier is None:  # the conflict was not on the request id
                    raise LogUnavailable("a decision could not be logged")
                logged.append(Logged(earlier, replayed=True))
            # A log moved, removed or made read-only is noticed here, under the write
            # lock and before COMMIT, so refusing rolls everything back. Once committed,
            # the decisions are logged and are answered: a refusal after COMMIT would
            # say "no decision was made" of decisions that are in the log.
            if not still_on_disk(db):
                raise LogUnavailable()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return logged


def _by_client_request_id(db: sqlite_utils.Database, client_request_id: str | None) -> Decision | None:
    if client_request_id is None:
        return None
    row = db.execute(f"{_SELECT} WHERE client_request_id = ?", [client_request_id]).fetchone()
    return _row(row) if row else None


def by_client_request_id(db: sqlite_utils.Database, client_request_id: str) -> Decision | None:
    try:
        return _by_client_request_id(db, client_request_id)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def get(db: sqlite_utils.Database, decision_id: str) -> Decision:
    """A logged decision. Raises DecisionNotFound, or DecisionPurged when its content was
    removed at the end of its retention period."""
    try:
        row = db.execute(f"{_SELECT} WHERE id = ?", [decision_id]).fetchone()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if row is None:
        raise DecisionNotFound()
    decision = _row(row)
    if decision.response is None:
        raise DecisionPurged()
    return decision


def count(db: sqlite_utils.Database) -> int:
    try:
        return db.execute("SELECT count(*) FROM decisions").fetchone()[0]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def check(db: sqlite_utils.Database) -> None:
    """Raise LogUnavailable unless the log can be read, is on disk and can take a write
    (the disk or the database is not full)."""
    try:
        db.execute("SELECT seq FROM decisions LIMIT 0").fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if not still_on_disk(db):
        raise LogUnavailable()
    if not writable(db):
        raise LogUnavailable("The decision log cannot take a write (the disk or the database is full); "
                             "no decision can be made.")


def latest_per_customer(db: sqlite_utils.Database, ruleset_id: str, since: str,
                        until: str) -> Iterator[tuple[str, str]]:
    """(decision id, logged snapshot text) of the latest decision of each customer
    decided with ``ruleset_id`` in [since, until) (log times), in log order. Purged
    decisions hold no snapshot and are left out."""
    query = """
        SELECT id, snapshot FROM decisions WHERE seq IN (
            SELECT max(seq) FROM decisions
            WHERE ruleset_id = ? AND decided_at >= ? AND decided_at < ? AND snapshot IS NOT NULL
            GROUP BY customer_id)
        ORDER BY seq
    """
    try:
        cursor = db.execute(query, [ruleset_id, since, until])
        try:
            yield from cursor
        finally:
            cursor.close()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def count_customers(db: sqlite_utils.Database, ruleset_id: str, since: str, until: str) -> int:
    """How many rows ``latest_per_customer`` gives."""
    try:
        return db.execute(
            "SELECT count(DISTINCT customer_id) FROM decisions WHERE ruleset_id = ? AND decided_at >= ? "
            "AND decided_at < ? AND snapshot IS NOT NULL", [ruleset_id, since, until]).fetchone()[0]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
