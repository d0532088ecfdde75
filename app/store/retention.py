"""Retention: legal holds, and purging the content of decisions past their retention period.

A decision is kept whole for the retention period (VIGIL_RETENTION_DAYS), and for as
long as its customer is under a legal hold. After that, ``purge`` removes what identifies
the customer or holds their data (customer, request, snapshot, result, trail, response;
chain.PURGED) and keeps the rest: the record's place in the chain, its id, time, ruleset
and level, its hashes and the digest of what was removed, so the chain still verifies and
still proves what is left. Purging is the one change the log's trigger allows.

Each hold placed or released, and each batch purged, is an audit event in the same
transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from dataclasses import dataclass

import sqlite_utils

from app.store import chain, search, times
from app.store.audit import Actor, record_event
from app.store.db import immediate
from app.store.errors import HoldNotFound, InvalidRequest, LogUnavailable, WrongStatus
from app.store.queries import check_text

PURGE_BATCH = 500


@dataclass(frozen=True)
class Hold:
    hold_id: str
    customer_id: str
    reason: str
    placed_by: str
    placed_at: str
    released_by: str | None
    released_at: str | None
    release_reason: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def to_dict(self) -> dict:
        return {**self.__dict__, "active": self.active}


_HOLD_COLUMNS = tuple(Hold.__dataclass_fields__)


def _hold(row) -> Hold:
    return Hold(*row)


def _read(db, sql: str, params=()) -> list[tuple]:
    try:
        return db.execute(sql, list(params)).fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def place_hold(db: sqlite_utils.Database, customer_id: str, reason: str, actor: Actor) -> Hold:
    """Keep every decision about this customer whole until the hold is released."""
    if not customer_id.strip() or not reason.strip():
        raise InvalidRequest("A hold needs a customer and a reason.",
                             [{"path": "reason" if customer_id.strip() else "customer_id", "message": "Empty."}])
    hold = Hold(secrets.token_hex(6), customer_id, reason, actor.person, times.iso(times.now()), None, None, None)
    try:
        with immediate(db):
            db.execute(f"INSERT INTO legal_holds ({', '.join(_HOLD_COLUMNS)}) "
                       f"VALUES ({', '.join('?' * len(_HOLD_COLUMNS))})", list(hold.__dict__.values()))
            record_event(db, actor, "hold.place", f"customer:{customer_id}",
                         {"hold_id": hold.hold_id, "reason": reason})
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return hold


def get_hold(db: sqlite_utils.Database, hold_id: str) -> Hold:
    rows = _read(db, f"SELECT {', '.join(_HOLD_COLUMNS)} FROM legal_holds WHERE hold_id = ?", [hold_id])
    if not rows:
        raise HoldNotFound()
    return _hold(rows[0])


def release_hold(db: sqlite_utils.Database, hold_id: str, actor: Actor, reason: str | None = None) -> Hold:
    try:
        with immediate(db):
            hold = get_hold(db, hold_id)
            if not hold.active:
                raise WrongStatus(f"Hold {hold_id} was already released at {hold.released_at}.")
            released = Hold(**{**hold.__dict__, "released_by": actor.person, "released_at": times.iso(times.now()),
                               "release_reason": reason})
            db.execute("UPDATE legal_holds SET released_by = ?, released_at = ?, release_reason = ? WHERE hold_id = ?",
                       [released.released_by, released.released_at, reason, hold_id])
            record_event(db, actor, "hold.release", f"customer:{hold.customer_id}",
                         {"hold_id": hold_id, "reason": reason})
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return released


def list_holds(db: sqlite_utils.Database, customer_id: str | None = None, include_released: bool = False) -> list[Hold]:
    check_text(customer_id=customer_id)
    where, params = [], []
    if customer_id is not None:
        where.append("customer_id = ?")
        params.append(customer_id)
    if not include_released:
        where.append("released_at IS NULL")
    sql = f"SELECT {', '.join(_HOLD_COLUMNS)} FROM legal_holds"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [_hold(r) for r in _read(db, sql + " ORDER BY placed_at, hold_id", params)]


# ---------------------------------------------------------------- purge


@dataclass(frozen=True)
class PurgeReport:
    retention_days: int
    cutoff: str             # decisions made before this are past their retention period
    expired: int            # past it and not purged yet, held ones included
    held: int               # of those, kept whole by a legal hold
    purged: int             # content removed now (0 on a dry run)
    dry_run: bool
    first_seq: int | None
    last_seq: int | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_EXPIRED = ("purged_at IS NULL AND decided_at < ?")
_HELD = "customer_id IN (SELECT customer_id FROM legal_holds WHERE released_at IS NULL)"
_PURGED_BLOBS = ", ".join(f"CAST({c} AS BLOB)" for c in chain.PURGED)


def cutoff(retention_days: int, now: dt.datetime | None = None) -> str:
    if retention_days < 1:
        raise InvalidRequest("The retention period must be at least one day.")
    return times.iso((now or times.now()) - dt.timedelta(days=retention_days))


def purge(db: sqlite_utils.Database, *, retention_days: int, actor: Actor, now: dt.datetime | None = None,
          dry_run: bool = False, batch: int = PURGE_BATCH) -> PurgeReport:
    """Remove the content of every decision past its retention period whose customer is
    not under a legal hold, a batch per transaction (each with its audit event), so
    decisions keep being logged meanwhile."""
    before = cutoff(retention_days, now)
    expired, held = _read(db, f"SELECT count(*), coalesce(sum({_HELD}), 0) FROM decisions WHERE {_EXPIRED}",
                          [before])[0]
    purged, first, last = 0, None, None
    while not dry_run:
        try:
            with immediate(db):
                # The hold is checked in the purging transaction: a hold placed a moment
                # ago is honoured.
                rows = db.execute(f"SELECT seq, {_PURGED_BLOBS} FROM decisions WHERE {_EXPIRED} AND NOT {_HELD} "
                                  "ORDER BY seq LIMIT ?", [before, batch]).fetchall()
                if not rows:
                    break
                at = times.iso(times.now())
                nulls = ", ".join(f"{c} = NULL" for c in chain.PURGED)
                db.conn.executemany(f"UPDATE decisions SET {nulls}, purged_at = ?, purged_digest = ? WHERE seq = ?",
                                    [(at, chain.digest(row[1:]), row[0]) for row in rows])
                seqs = [row[0] for row in rows]
                search.forget(db, seqs)
                record_event(db, actor, "decision.purge", "decisions",
                             {"count": len(seqs), "first_seq": seqs[0], "last_seq": seqs[-1], "cutoff": before,
                              "retention_days": retention_days})
        except sqlite3.Error as exc:
            raise LogUnavailable() from exc
        purged += len(seqs)
        first = seqs[0] if first is None else first
        last = seqs[-1]
    return PurgeReport(retention_days, before, expired, held, purged, dry_run, first, last)
