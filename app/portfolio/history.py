"""Snapshots from the decision log, for simulating a change on past decisions."""
from __future__ import annotations

import datetime as dt
from typing import Iterator

import sqlite_utils

from app.core import codec
from app.store import decision_log


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
    for decision_id, text in decision_log.latest_per_customer(db, ruleset_id, log_time(since), log_time(until)):
        yield decision_id, codec.loads(text)


def count_logged(db: sqlite_utils.Database, ruleset_id: str, since: str, until: str) -> int:
    """How many customers ``logged_snapshots`` gives."""
    return decision_log.count_customers(db, ruleset_id, log_time(since), log_time(until))
