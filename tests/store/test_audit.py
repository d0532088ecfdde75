"""The audit event table: append-only, filtered, paged, and written with the change."""

import sqlite3

import pytest

from app.store import audit, immediate
from app.store.audit import Actor
from app.store.errors import InvalidRequest


@pytest.fixture
def db(empty_db_path):
    from app import store

    db = store.connect(empty_db_path)
    yield db
    db.close()


def test_record_and_read_back(db):
    event = audit.record_event(db, Actor("ana", "k1"), "decision.read", "decision:d-1", {"why": "complaint"},
                               "sha256:a", "sha256:b")
    [read] = audit.list_events(db).events
    assert read == event and read.seq == 1
    assert (read.actor, read.key_id, read.details) == ("ana", "k1", {"why": "complaint"})
    assert read.at.endswith("Z")
    assert audit.record_event(db, "system", "x", "t").actor == "system"


def test_append_only(db):
    audit.record_event(db, "ana", "a", "t")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE audit_events SET actor = 'eve'")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("DELETE FROM audit_events")


def test_an_event_joins_the_open_transaction(db):
    with pytest.raises(RuntimeError):
        with immediate(db):
            audit.record_event(db, "ana", "a", "t")
            raise RuntimeError("the change fails")
    assert audit.list_events(db).events == []


def test_filters(db):
    audit.record_event(db, "ana", "version.create", "ruleset:card@2")
    audit.record_event(db, "bob", "version.approve", "ruleset:card@2")
    audit.record_event(db, "bob", "ruleset.publish", "ruleset:card@2")
    audit.record_event(db, "bob", "version.approve", "ruleset:cards@1")
    audit.record_event(db, "ada", "key.create", "key:abc")

    def actions(**kw):
        return [(e.action, e.target) for e in audit.list_events(db, **kw).events]

    assert len(actions(target="ruleset:card")) == 3  # not ruleset:cards
    assert actions(target="ruleset:cards@1") == [("version.approve", "ruleset:cards@1")]
    assert [a for a, _ in actions(action="version.")] == ["version.create", "version.approve", "version.approve"]
    assert len(actions(action="version.approve", actor="bob")) == 2
    events = audit.list_events(db).events
    assert actions(since=events[2].at) == actions()[2:]
    assert actions(until=events[2].at) == actions()[:2]


def test_cursor_pages_through_everything_once(db):
    for n in range(7):
        audit.record_event(db, "ana", "a", f"t{n}")
    seen, cursor = [], None
    while True:
        page = audit.list_events(db, cursor=cursor, limit=3)
        seen.extend(e.target for e in page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"t{n}" for n in range(7)]
    with pytest.raises(InvalidRequest):
        audit.list_events(db, cursor="not-a-cursor")
