"""The database connection of the current thread (the decision log, the policies, keys
and audit events are one SQLite file).

Each worker thread keeps one connection open instead of opening one per request: when
the last connection to a WAL database closes, SQLite checkpoints and deletes the WAL,
which cost more than a millisecond on every decision. These connections leave the
routine checkpoints of the write-ahead log to the worker's Checkpointer thread. A
connection that failed, or whose file was removed or made read-only, is dropped, and
the next request opens a fresh one, so the service recovers by itself once the log is
back.

Decisions are written through one more connection per worker, the group commit's
writer connection, which the worker's threads take turns to use (see
app/store/group_commit.py); it is dropped and opened again the same way.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from app import store
from app.service import decide
from app.store.db import SERVICE_AUTOCHECKPOINT_PAGES, Checkpointer
from app.store.group_commit import GroupCommit


def _connect(config, writer: bool = False) -> store.LogDatabase:
    return store.connect(
        config["VIGIL_DATABASE"],
        synchronous=config["VIGIL_SQLITE_SYNCHRONOUS"],
        busy_timeout_ms=config["VIGIL_SQLITE_BUSY_TIMEOUT_MS"],
        autocheckpoint=SERVICE_AUTOCHECKPOINT_PAGES,
        writer=writer,
    )


def get_db() -> store.LogDatabase:
    local = current_app.extensions["vigil.log_connections"]
    db = getattr(local, "db", None)
    if db is None:
        db = _connect(current_app.config)
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
    """``decide.log`` through this process's group commit: the rows (with what each
    asks to be done in the same transaction, ``follow_ups``, one per row or None) share
    one write transaction with what other threads of the process log at the same
    moment, and the call returns once that transaction has committed. The transaction
    is written through the group commit's writer connection, not ``db``."""
    items = list(zip(rows, follow_ups if follow_ups is not None else [None] * len(rows)))
    logged = current_app.extensions["vigil.group_commit"].write(db, items)
    current_app.extensions["vigil.checkpointer"].written()
    return logged


def _log_group(db: store.LogDatabase, items: list) -> list:
    rows = [row for row, _ in items]
    follow_ups = [follow_up for _, follow_up in items]
    if any(follow_up is not None for follow_up in follow_ups):
        return decide.log(db, rows, follow_ups)
    return decide.log(db, rows)


def init_app(app: Flask) -> None:
    app.extensions["vigil.log_connections"] = threading.local()
    config = app.config
    app.extensions["vigil.group_commit"] = GroupCommit(_log_group, connect=lambda: _connect(config, writer=True))
    # The write-ahead log is checkpointed by a thread of the worker's, not by the
    # decision whose commit happens to fill it.
    app.extensions["vigil.checkpointer"] = Checkpointer(app.config["VIGIL_DATABASE"])
