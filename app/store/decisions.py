"""The decision log: every decision answered, with what it was made from."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from app.store.db import immediate, still_on_disk
from app.store.errors import DecisionNotFound, LogUnavailable


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


@dataclass(frozen=True)
class Logged:
    """What record() did with one decision: `decision` is what is in the log now.
    `replayed` is true when the client request id was already logged, in which
    case `decision` is that earlier decision and nothing new was written."""

    decision: Decision
    replayed: bool


_COLUMNS = tuple(Decision.__dataclass_fields__)
_INSERT = (
    f"INSERT INTO decisions ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
    "ON CONFLICT (client_request_id) DO NOTHING"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM decisions"


def _row(row: tuple) -> Decision:
    return Decision(*row)


def record(db: sqlite_utils.Database, decisions: Sequence[Decision]) -> list[Logged]:
    """Append decisions to the log in one transaction, in order.

    This is the only function that writes decisions. When it returns, every one of
    them is committed; when it raises LogUnavailable, none may be answered.
    """
    logged: list[Logged] = []
    if not still_on_disk(db):
        raise LogUnavailable()
    try:
        with immediate(db):
            for decision in decisions:
                cursor = db.execute(_INSERT, decision.__dict__)
                if cursor.rowcount == 1:
                    logged.append(Logged(decision, replayed=False))
                    continue
                earlier = _by_client_request_id(db, decision.client_request_id)
                if earlier is None:  # the conflict was not on the request id
                    raise LogUnavailable("a decision could not be logged")
                logged.append(Logged(earlier, replayed=True))
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if not still_on_disk(db):
        raise LogUnavailable()
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
    try:
        row = db.execute(f"{_SELECT} WHERE id = ?", [decision_id]).fetchone()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if row is None:
        raise DecisionNotFound()
    return _row(row)


def count(db: sqlite_utils.Database) -> int:
    try:
        return db.execute("SELECT count(*) FROM decisions").fetchone()[0]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def check(db: sqlite_utils.Database) -> None:
    """Raise LogUnavailable unless the log can be read and is on disk."""
    try:
        db.execute("SELECT seq FROM decisions LIMIT 0").fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if not still_on_disk(db):
        raise LogUnavailable()
