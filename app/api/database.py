"""The database connection of the current thread (the decision log, the policies, keys
and audit events are one SQLite file).

Each worker thread keeps one connection open instead of opening one per request: when
the last connection to a WAL database closes, SQLite checkpoints and deletes the WAL,
which cost more than a millisecond on every decision. A connection that failed, or
whose file was removed or made read-only, is dropped, and the next request opens a
fresh one, so the service recovers by itself once the log is back.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from app import store
from app.service import decide
from app.store.group_commit import GroupCommit


def get_db() -> store.LogDatabase:
    local = current_app.extensions["vigil.log_connections"]
    db = getattr(local, "db", None)
    if db is None:
        config = current_app.config
        db = store.connect(
            config["VIGIL_DATABASE"],
            synchronous=config["VIGIL_SQLITE_SYNCHRONOUS"],
            busy_timeout_ms=config["VIGIL_SQLITE_BUSY_TIMEOUT_MS"],
        )
        local.db = db
    return db


def drop_db() -> None:
    """Forget this thread's connection; the next get_db() reconnects."""
    local = current_app.extensions["vigil.log_connections"]
    db = getattr(local, "db", None)
    local.db = None
    if db is not None:
        try:
            db.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close too
            pass


def log_decisions(db: store.LogDatabase, rows: list, follow_ups: list | None = None) -> list:
    """``decide.log`` through this process's group commit: the rows share one write
    transaction with what other threads of the process log at the same moment, and the
    call returns once that transaction has committed. ``follow_ups``: the tasks each row
    asks for (``Decided.follow_ups``), opened in that same transaction."""
    return current_app.extensions["vigil.group_commit"].write(
        db, list(zip(rows, follow_ups if follow_ups is not None else [None] * len(rows))))


def _log_pairs(db: store.LogDatabase, items: list) -> list:
    """``decide.log`` of (row, follow-ups) pairs."""
    return decide.log(db, [row for row, _ in items], [wanted for _, wanted in items])


def init_app(app: Flask) -> None:
    app.extensions["vigil.log_connections"] = threading.local()
    app.extensions["vigil.group_commit"] = GroupCommit(_log_pairs)
