"""Console sessions: a person signed in to the web console with an API key.

The browser holds a random token; the table holds its SHA-256, the key it was opened
with, a CSRF token for the session's forms, and its times. A session ends when the
person signs out, after ``idle`` seconds without a request, at its absolute expiry
(``lifetime`` seconds after sign-in), or as soon as its key is revoked (the caller reads
the key on every request). Expired rows are removed when a new session opens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

import sqlite_utils

from app.store import times
from app.store.audit import record_event
from app.store.db import immediate
from app.store.errors import LogUnavailable
from app.store.keys import ApiKey

# A session's last_seen_at is written at most this often, so that a page view is
# usually a read only; idle expiry is therefore exact to within this many seconds.
TOUCH_SECONDS = 30


@dataclass(frozen=True)
class Session:
    key_id: str
    owner: str
    csrf_token: str
    created_at: str
    last_seen_at: str
    expires_at: str


_COLUMNS = ("key_id", "owner", "csrf_token", "created_at", "last_seen_at", "expires_at")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(db: sqlite_utils.Database, key: ApiKey, *, lifetime: float) -> tuple[str, Session]:
    """A new session for this key; the token to give the browser, and the session.
    The sign-in is an audit event (``console.sign_in``) by the key's owner."""
    token = secrets.token_urlsafe(32)
    now = times.now()
    session = Session(key_id=key.key_id, owner=key.owner, csrf_token=secrets.token_urlsafe(32),
                      created_at=times.iso(now), last_seen_at=times.iso(now),
                      expires_at=times.iso(now + dt.timedelta(seconds=lifetime)))
    try:
        with immediate(db):
            db.execute("DELETE FROM console_sessions WHERE expires_at <= ?", [times.iso(now)])
            db.execute(f"INSERT INTO console_sessions (token_hash, {', '.join(_COLUMNS)}) "
                       f"VALUES (?, {', '.join('?' * len(_COLUMNS))})",
                       [_hash(token), *(getattr(session, c) for c in _COLUMNS)])
            record_event(db, key.actor, "console.sign_in", f"key:{key.key_id}",
                         {"expires_at": session.expires_at})
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; you are not signed in.") from exc
    return token, session


def find_session(db: sqlite_utils.Database, token: str, *, idle: float) -> Session | None:
    """The live session this token belongs to, or None (unknown, idle too long, or past
    its absolute expiry; an expired one is removed). Marks it used."""
    if not token or len(token) > 128:
        return None
    try:
        row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM console_sessions WHERE token_hash = ?",
                         [_hash(token)]).fetchone()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if row is None:
        return None
    session = Session(*row)
    now = times.now()
    if times.iso(now) >= session.expires_at or now - times.parse(session.last_seen_at) > dt.timedelta(seconds=idle):
        end_session(db, token)
        return None
    if now - times.parse(session.last_seen_at) > dt.timedelta(seconds=TOUCH_SECONDS):
        try:
            with immediate(db):
                db.execute("UPDATE console_sessions SET last_seen_at = ? WHERE token_hash = ?",
                           [times.iso(now), _hash(token)])
        except sqlite3.Error as exc:
            raise LogUnavailable() from exc
    return session


def end_session(db: sqlite_utils.Database, token: str, actor=None) -> None:
    """Remove the session; with an actor (signing out), record ``console.sign_out``."""
    try:
        with immediate(db):
            db.execute("DELETE FROM console_sessions WHERE token_hash = ?", [_hash(token)])
            if actor is not None:
                record_event(db, actor, "console.sign_out", f"key:{actor.key_id}", {})
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
