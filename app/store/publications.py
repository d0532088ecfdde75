"""Publishing ruleset versions: now, at a scheduled time, or again as a rollback.

Publications are append-only. The version of a ruleset in effect at time T is the one
of the publication with the greatest ``effective_at`` <= T, ties going to the later
publication. So a scheduled version takes effect at its time with nothing to reload,
and a rollback is one more publication, of an earlier version, effective now.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from app.store import times
from app.store.audit import Actor, record_event
from app.store.db import immediate
from app.store.errors import InvalidRequest, LogUnavailable, WrongStatus
from app.store.policies import STEPS, RulesetVersion, expect, get_version, set_status, step, touch

KINDS = ("publish", "schedule", "rollback")


@dataclass(frozen=True)
class Publication:
    seq: int
    ruleset_id: str
    version: int
    hash: str
    kind: str
    effective_at: str
    published_by: str
    published_at: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_COLUMNS = tuple(Publication.__dataclass_fields__)


def list_publications(db: sqlite_utils.Database, ruleset_id: str | None = None) -> list[Publication]:
    """Publications in the order they take effect (effective_at, then seq)."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM publications"
    params: list = []
    if ruleset_id is not None:
        sql += " WHERE ruleset_id = ?"
        params.append(ruleset_id)
    try:
        rows = db.execute(sql + " ORDER BY ruleset_id, effective_at, seq", params).fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable.") from exc
    return [Publication(*r) for r in rows]


def in_effect(history: Sequence[Publication], at: dt.datetime | str) -> Publication | None:
    """The publication in effect at ``at``, from one ruleset's publications in the
    order list_publications gives them."""
    moment = times.iso(at) if isinstance(at, dt.datetime) else at
    current = None
    for publication in history:
        if publication.effective_at > moment:
            break
        current = publication
    return current


def insert_publication(db: sqlite_utils.Database, version: RulesetVersion, kind: str, effective_at: dt.datetime,
                       actor: Actor, *, before: Publication | None = None) -> Publication:
    """Inside a transaction: append the publication, mark the version published, change
    the policy token and record the audit event."""
    published_at = times.iso(times.now())
    row = {"ruleset_id": version.ruleset_id, "version": version.version, "hash": version.hash, "kind": kind,
           "effective_at": times.iso(effective_at), "published_by": actor.person, "published_at": published_at}
    cursor = db.execute(f"INSERT INTO publications ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})",
                        row)
    if version.status != "published":
        db.execute("UPDATE ruleset_versions SET status = 'published' WHERE ruleset_id = ? AND version = ?",
                   [version.ruleset_id, version.version])
    touch(db)
    publication = Publication(seq=cursor.lastrowid, **row)
    record_event(db, actor, f"ruleset.{kind}", version.target,
                 {"effective_at": publication.effective_at, "publication": publication.seq,
                  "replaces_version": before.version if before else None},
                 before.hash if before else None, version.hash)
    return publication


def publish(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor,
            effective_at: dt.datetime | None = None) -> Publication:
    """Publish an approved (or earlier published) version now, or schedule it for
    ``effective_at``, which must be in the future."""
    now = times.now()
    if effective_at is not None and effective_at <= now:
        raise InvalidRequest("effective_at is not in the future; leave it out to publish now.",
                             [{"path": "effective_at", "message": "Must be later than now."}])
    version = expect(get_version(db, ruleset_id, number), STEPS["publish"], "publish")
    try:
        with immediate(db):
            version = expect(get_version(db, ruleset_id, number), STEPS["publish"], "publish")
            moment = effective_at or times.now()
            before = in_effect(list_publications(db, ruleset_id), moment)
            if effective_at is None and before is not None and before.version == number:
                raise WrongStatus(f"Version {number} of {ruleset_id} is already in effect.")
            return insert_publication(db, version, "publish" if effective_at is None else "schedule", moment, actor,
                                      before=before)
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; nothing was published.") from exc


def rollback(db: sqlite_utils.Database, ruleset_id: str, actor: Actor, to_version: int | None = None) -> Publication:
    """Put an earlier published version back in effect now, as a new publication.
    Without ``to_version``: the version that was in effect before the current one."""
    try:
        with immediate(db):
            now = times.now()
            history = [p for p in list_publications(db, ruleset_id) if p.effective_at <= times.iso(now)]
            if not history:
                raise InvalidRequest(f"No version of {ruleset_id} is in effect; there is nothing to roll back.")
            current = history[-1]
            if to_version is None:
                earlier = [p for p in reversed(history) if p.version != current.version]
                if not earlier:
                    raise InvalidRequest(f"No version of {ruleset_id} was in effect before version "
                                         f"{current.version}; name the version to roll back to.")
                to_version = earlier[0].version
            if to_version == current.version:
                raise InvalidRequest(f"Version {to_version} of {ruleset_id} is already in effect.",
                                     [{"path": "to_version", "message": "Already in effect."}])
            target = get_version(db, ruleset_id, to_version)
            if target.status != "published":
                raise WrongStatus(f"Version {to_version} of {ruleset_id} is {target.status}; only a version "
                                  "published before can be rolled back to.")
            return insert_publication(db, target, "rollback", now, actor, before=current)
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; nothing was published.") from exc


def retire(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor) -> RulesetVersion:
    """Take a version out of use: it can no longer be published, pinned or rolled back
    to. The version in effect, or one scheduled to take effect, cannot be retired."""
    before = expect(get_version(db, ruleset_id, number), STEPS["retire"], "retire")
    at = times.iso(times.now())
    with step(db, before):
        history = list_publications(db, ruleset_id)
        current = in_effect(history, at)
        if current is not None and current.version == number:
            raise WrongStatus(f"Version {number} of {ruleset_id} is in effect; publish another version first.")
        if any(p.version == number and p.effective_at > at for p in history):
            raise WrongStatus(f"Version {number} of {ruleset_id} is scheduled to take effect; "
                              "it cannot be retired.")
        set_status(db, before, "retired", retired_by=actor.person, retired_at=at)
        touch(db)
        record_event(db, actor, "version.retire", before.target, {"status_before": before.status},
                     before.hash, before.hash)
    return get_version(db, ruleset_id, number)
