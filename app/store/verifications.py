"""Verifications of the log started from the console, one row each.

    running --> done (with the report)
            |--> failed (with the reason)

The worker that received the request walks the chains in a background thread and writes
its progress here every fraction of a second; whichever worker serves the next page
reads it from this row, never from memory. A running row is ``stalled`` once the process
running it has ended (app/store/runner.py) or its progress stopped moving.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from dataclasses import dataclass

import sqlite_utils

from app.core import codec
from app.store import runner as runners
from app.store import times
from app.store.audit import Actor
from app.store.db import immediate
from app.store.errors import LogUnavailable, StoreError

# A running verification whose progress has not moved for this long is taken as stopped.
# Progress moves every fraction of a second while the chains are walked; telling how a
# broken record broke takes further passes over the log without progress (about 25 s
# each on 1,000,000 decisions), hence the margin.
STALLED_AFTER = dt.timedelta(minutes=5)


class VerificationNotFound(StoreError):
    reason = "not_found"
    message = "No verification has this id."


@dataclass(frozen=True)
class LogVerification:
    id: str
    status: str
    requested_by: str
    key_id: str | None
    created_at: str
    updated_at: str
    against: dict | None
    progress_done: int
    progress_total: int | None
    report: dict | None
    error: str | None
    runner: str | None = None  # the process running it

    @property
    def stalled(self) -> bool:
        if self.status != "running":
            return False
        if not runners.alive(self.runner):
            return True
        updated = dt.datetime.fromisoformat(self.updated_at.replace("Z", "+00:00"))
        return times.now() - updated > STALLED_AFTER


_COLUMNS = tuple(LogVerification.__dataclass_fields__)


def _row(row: tuple) -> LogVerification:
    values = dict(zip(_COLUMNS, row))
    for name in ("against", "report"):
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return LogVerification(**values)


def create(db: sqlite_utils.Database, actor: Actor, against: dict | None) -> LogVerification:
    now = times.iso(times.now())
    verification = LogVerification(id=uuid.uuid4().hex, status="running", requested_by=actor.person,
                                   key_id=actor.key_id, created_at=now, updated_at=now, against=against,
                                   progress_done=0, progress_total=None, report=None, error=None,
                                   runner=runners.this_process())
    row = {**verification.__dict__, "against": codec.dumps(against) if against is not None else None}
    try:
        with immediate(db):
            db.execute(f"INSERT INTO log_verifications ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       list(row.values()))
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return verification


def get(db: sqlite_utils.Database, verification_id: str) -> LogVerification:
    try:
        rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM log_verifications WHERE id = ?",
                          [verification_id]).fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if not rows:
        raise VerificationNotFound()
    return _row(rows[0])


def _update(db: sqlite_utils.Database, verification_id: str, **columns) -> None:
    columns["updated_at"] = times.iso(times.now())
    try:
        with immediate(db):
            db.execute(f"UPDATE log_verifications SET {', '.join(f'{k} = ?' for k in columns)} WHERE id = ?",
                       [*columns.values(), verification_id])
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def progress(db: sqlite_utils.Database, verification_id: str, done: int, total: int) -> None:
    _update(db, verification_id, progress_done=done, progress_total=total)


def finish(db: sqlite_utils.Database, verification_id: str, report: dict, done: int) -> None:
    _update(db, verification_id, status="done", report=codec.dumps(report), progress_done=done, progress_total=done)


def fail(db: sqlite_utils.Database, verification_id: str, reason: str) -> None:
    _update(db, verification_id, status="failed", error=reason)
