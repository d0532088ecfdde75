"""Console sessions in the store: opening, idle and absolute expiry, sign-out."""

from __future__ import annotations

import pytest

from app.store import keys, sessions
from app.store.audit import Actor, list_events


@pytest.fixture
def key(log_db):
    return keys.create_key(log_db, name="s", owner="dana", roles=["author"], actor=Actor("test"))[0]


def test_a_session_is_found_by_its_token_and_only_its_hash_is_kept(log_db, key):
    token, session = sessions.open_session(log_db, key, lifetime=60)
    found = sessions.find_session(log_db, token, idle=60)
    assert found == session and found.owner == "dana" and found.key_id == key.key_id
    stored = log_db.execute("SELECT token_hash FROM console_sessions").fetchall()
    assert stored and token not in stored[0][0]
    assert sessions.find_session(log_db, token + "x", idle=60) is None
    assert [e.action for e in list_events(log_db, actor="dana").events] == ["console.sign_in"]


def test_idle_and_absolute_expiry_end_the_session(log_db, key):
    token, _ = sessions.open_session(log_db, key, lifetime=60)
    log_db.execute("UPDATE console_sessions SET last_seen_at = '2000-01-01T00:00:00.000000Z'")
    assert sessions.find_session(log_db, token, idle=60) is None
    assert log_db.execute("SELECT count(*) FROM console_sessions").fetchone()[0] == 0
    token, _ = sessions.open_session(log_db, key, lifetime=60)
    log_db.execute("UPDATE console_sessions SET expires_at = '2000-01-01T00:00:00.000000Z'")
    assert sessions.find_session(log_db, token, idle=3600) is None


def test_sign_out_ends_the_session_and_is_an_audit_event(log_db, key):
    token, _ = sessions.open_session(log_db, key, lifetime=60)
    sessions.end_session(log_db, token, key.actor)
    assert sessions.find_session(log_db, token, idle=60) is None
    assert [e.action for e in list_events(log_db, actor="dana").events] == ["console.sign_in", "console.sign_out"]
