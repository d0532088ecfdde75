"""Snapshots from the decision log, for simulating a change on past decisions.

Reads the ``decisions`` table directly (read-only); the store has no query for this yet.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from typing import Iterator

import sqlite_utils

from app.store import LogUnavailable


def log_time(text: str) -> str:
    """An ISO 8601 time or date as the log writes it (UTC, microseconds, 'Z').
    A time without a zone is taken as UTC."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def logged_snapshots(db: sqlite_utils.Database, ruleset_id: str, since: str,
                     until: str) -> Iterator[tuple[str, object]]:
    """(decision id, snapshot) for each customer decided with ``ruleset_id`` in
    [since, until): the latest decision of each customer in the window, in log order."""
    query = """
        SELECT id, snapshot FROM decisions WHERE seq IN (
            SELECT max(seq) FROM decisions
            WHERE ruleset_id = ? AND decided_at >= ? AND decided_at < ?
            GROUP BY customer_id)
        ORDER BY seq
    """
    try:
        cursor = db.execute(query, [ruleset_id, log_time(since), log_time(until)])
        for decision_id, text in cursor:
            yield decision_id, json.loads(text, parse_float=Decimal)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def count_logged(db: sqlite_utils.Database, ruleset_id: str, since: str, until: str) -> int:
    """How many customers ``logged_snapshots`` gives."""
    try:
        return db.execute(
            "SELECT count(DISTINCT customer_id) FROM decisions WHERE ruleset_id = ? AND decided_at >= ? "
            "AND decided_at < ?", [ruleset_id, log_time(since), log_time(until)]).fetchone()[0]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
