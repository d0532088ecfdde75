"""Audit events: who did what, when, to which target, with the hashes before and after.

Append-only (triggers refuse UPDATE and DELETE), and chained like the decision log: each
event's hashes are made from the one before, in the transaction that writes it
(audit_chain.py), so going around the triggers shows on verify. Every governance action records one
event in the same transaction as the change itself, so a change without its event, or
an event without its change, cannot be committed. Other modules record theirs with
``record_event``::

    record_event(db, actor, "decision.read", f"decision:{decision_id}", {"fields": [...]})

``actor`` is an ``Actor`` (the person and the key they used) or a plain name.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import sqlite_utils

from app.core import codec
from app.store import audit_chain, times
from app.store.db import immediate
from app.store.errors import LogUnavailable
from app.store.queries import check_text, seq_from_cursor


# The command line acts as the operating-system user, named "<user> (command line)".
COMMAND_LINE = " (command line)"


def person_id(name: str | None) -> str:
    """Who a name means, for comparing people (four eyes, whose request id): case, width
    and spacing do not make another person ("Alice", " alice ", "ALICE" are one), and a
    command-line user is the same person as the key owner of that name."""
    text = unicodedata.normalize("NFKC", name or "")
    text = " ".join(text.split()).casefold()
    if text.endswith(COMMAND_LINE):
        text = text[:-len(COMMAND_LINE)].strip()
    return text


@dataclass(frozen=True)
class Actor:
    """A person acting: a key's owner with the key's id and who made that key, or a
    command-line user."""

    person: str
    key_id: str | None = None
    # Whoever created the key in use: four eyes hold them to the same rule as its owner,
    # so an admin cannot make a key for a stand-in and approve their own draft with it.
    key_created_by: str | None = None


SYSTEM = Actor("system")


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    id: str
    at: str
    actor: str
    key_id: str | None
    action: str
    target: str
    hash_before: str | None
    hash_after: str | None
    details: dict
    chain_hash: str | None = None  # set once written (audit_chain.py)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


_COLUMNS = ("seq", "id", "at", "actor", "key_id", "action", "target", "hash_before", "hash_after", "details",
            "chain_hash")


@contextlib.contextmanager
def writing(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """The caller's transaction if one is open, else a new immediate one: an event is
    always committed together with the change it records."""
    if db.conn.in_transaction:
        yield db
    else:
        with immediate(db):
            yield db


def record_event(db: sqlite_utils.Database, actor: Actor | str, action: str, target: str,
                 details: dict | None = None, hash_before: str | None = None,
                 hash_after: str | None = None) -> AuditEvent:
    """Append one event. Inside an open transaction it joins it; otherwise it commits
    on its own. Raises LogUnavailable if it cannot be written."""
    if isinstance(actor, str):
        actor = Actor(actor)
    event = AuditEvent(
        seq=0, id=str(uuid.uuid4()), at=times.iso(times.now()), actor=actor.person, key_id=actor.key_id,
        action=action, target=target, hash_before=hash_before, hash_after=hash_after, details=details or {})
    row = {**event.to_dict(), "details": codec.canonical(event.details)}
    del row["chain_hash"]
    try:
        with writing(db):
            seq, previous = audit_chain.next_link(db)
            row["seq"] = seq
            row["content_hash"] = audit_chain.content_hash(row)
            row["chain_hash"] = audit_chain.chain_hash(previous, row["content_hash"], seq)
            db.execute(f"INSERT INTO audit_events ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})", row)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return AuditEvent(**{**event.to_dict(), "seq": seq, "chain_hash": row["chain_hash"]})


def _event(row: tuple) -> AuditEvent:
    values = dict(zip(_COLUMNS, row))
    values["details"] = json.loads(values["details"])
    return AuditEvent(**values)


def list_events(db: sqlite_utils.Database, *, actor: str | None = None, action: str | None = None,
                target: str | None = None, since: str | None = None, until: str | None = None,
                cursor: str | None = None, limit: int = 100) -> AuditPage:
    """Events in the order they were recorded, oldest first, filtered.

    ``target`` matches that target and, for a ruleset or contract, each of its versions
    (``ruleset:retail_card`` matches ``ruleset:retail_card@3``). ``action`` matches
    exactly, or every action under a prefix ending in a dot (``version.``). ``since`` and
    ``until`` bound ``at`` (inclusive, exclusive). ``cursor`` is the ``next_cursor`` of
    the page before.
    """
    check_text(actor=actor, action=action, target=target)
    where, params = [], []
    if cursor:
        where.append("seq > ?")
        params.append(seq_from_cursor(cursor))
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if action:
        if action.endswith("."):
            where.append("substr(action, 1, ?) = ?")
            params.extend([len(action), action])
        else:
            where.append("action = ?")
            params.append(action)
    if target:
        where.append("(target = ? OR substr(target, 1, ?) = ?)")
        params.extend([target, len(target) + 1, target + "@"])
    if since:
        where.append("at >= ?")
        params.append(since)
    if until:
        where.append("at < ?")
        params.append(until)
    sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq LIMIT ?"
    params.append(int(limit) + 1)
    try:
        rows = db.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    events = [_event(r) for r in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(events, str(events[-1].seq) if more and events else None)
