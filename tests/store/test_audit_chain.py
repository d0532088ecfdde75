"""Audit events are chained like the decision log: each event's hashes are made from
the one before inside the transaction that writes it, and the log verification walks
them too and names the first broken event (edited, deleted, inserted, truncated)."""

import sqlite3
import threading

import pytest

from app import store
from app.store import audit, audit_chain, chain
from app.store.audit import Actor


@pytest.fixture
def path(empty_db_path):
    return empty_db_path


@pytest.fixture
def db(path):
    db = store.connect(path)
    yield db
    db.close()


def record(db, n: int) -> list[audit.AuditEvent]:
    return [audit.record_event(db, Actor("ana", "k1"), "decision.read", f"decision:d-{i}", {"i": i})
            for i in range(n)]


def tamper(db, sql: str, params=()) -> None:
    """What someone with the file and sqlite3 can do: go around the append-only triggers."""
    db.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    db.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    db.execute("DROP TRIGGER IF EXISTS audit_events_chained")
    db.execute(sql, list(params))


def test_every_event_is_chained_and_verifies(db):
    events = record(db, 5)
    assert all(e.chain_hash for e in events)
    assert [e.chain_hash for e in audit.list_events(db).events] == [e.chain_hash for e in events]
    report = chain.verify(db)
    assert report.ok and report.audit.ok and report.audit.checked == 5 and report.audit.last_seq == 5
    assert report.to_dict()["audit_events"] == {"ok": True, "checked": 5, "last_seq": 5, "problem": None}


def test_an_edited_event_is_named(db):
    events = record(db, 5)
    tamper(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    report = chain.verify(db)
    assert not report.ok and report.problem is None  # the decisions are intact
    problem = report.audit.problem
    assert (problem.kind, problem.seq, problem.event_id) == ("edited", 3, events[2].id)
    assert report.audit.checked == 2


def test_an_event_rewritten_with_its_content_hash_is_named(db):
    events = record(db, 4)
    row = dict(zip(audit_chain.CONTENT, db.execute(
        f"SELECT {', '.join(audit_chain.CONTENT)} FROM audit_events WHERE seq = 2").fetchone()))
    row["details"] = '{"i":99}'
    tamper(db, "UPDATE audit_events SET details = ?, content_hash = ? WHERE seq = 2",
           [row["details"], audit_chain.content_hash(row)])
    problem = chain.verify(db).audit.problem
    assert (problem.kind, problem.seq, problem.event_id) == ("edited", 2, events[1].id)


def test_a_deleted_event_is_named(db):
    events = record(db, 5)
    tamper(db, "DELETE FROM audit_events WHERE seq = 2")
    problem = chain.verify(db).audit.problem
    assert (problem.kind, problem.seq, problem.event_id) == ("deleted", 3, events[2].id)
    assert "2" in problem.message


def test_events_cut_from_the_end_are_named(db):
    record(db, 5)
    tamper(db, "DELETE FROM audit_events WHERE seq >= 4")
    report = chain.verify(db)
    assert (report.audit.problem.kind, report.audit.problem.seq) == ("truncated", 4)
    assert report.audit.checked == 3


def test_an_event_without_hashes_is_refused_and_a_forged_one_is_named(db):
    record(db, 2)
    columns = "id, at, actor, action, target, details"
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(f"INSERT INTO audit_events ({columns}) VALUES ('x', 'now', 'eve', 'a', 't', '{{}}')")
    tamper(db, f"INSERT INTO audit_events ({columns}, content_hash, chain_hash) "
               "VALUES ('forged', 'now', 'eve', 'a', 't', '{}', 'x', 'y')")
    problem = chain.verify(db).audit.problem
    assert (problem.kind, problem.seq, problem.event_id) == ("edited", 3, "forged")


def test_events_written_from_many_threads_form_one_chain(path):
    def write(n):
        db = store.connect(path)
        try:
            for i in range(n):
                audit.record_event(db, f"t{threading.get_ident()}", "x", f"t:{i}")
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db = store.connect(path)
    report = chain.verify(db)
    db.close()
    assert report.audit.ok and report.audit.checked == 100


def test_progress_counts_decisions_and_events(db):
    record(db, 4500)
    seen = []
    report = chain.verify(db, progress=lambda done, total: seen.append((done, total)))
    assert report.ok
    assert seen[0] == (0, 4500) and seen[-1] == (4500, 4500) and (2000, 4500) in seen


def test_events_recorded_before_the_chain_are_chained_by_the_migration(tmp_path):
    from migrations import MIGRATIONS

    path = str(tmp_path / "old.db")
    db = store.create(path)
    db.enable_wal()
    MIGRATIONS.apply(db, stop_before="m015_audit_chain")
    for i in range(3):
        db.execute("INSERT INTO audit_events (id, at, actor, key_id, action, target, details) "
                   "VALUES (?, '2026-04-01T00:00:00Z', 'ana', NULL, 'version.approve', ?, '{}')",
                   [f"e-{i}", f"ruleset:r@{i}"])
    db.conn.commit()
    store.migrate(db)
    db.close()
    db = store.connect(path)
    try:
        report = chain.verify(db)
        assert report.ok and report.audit.checked == 3
        audit.record_event(db, "ana", "decision.read", "decision:d")
        assert chain.verify(db).audit.checked == 4
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE audit_events SET actor = 'x' WHERE seq = 1")
    finally:
        db.close()


def test_the_head_names_the_last_event_and_verify_checks_the_events_still_reach_it(db):
    events = record(db, 6)
    head = chain.head(db)
    assert (head.audit_seq, head.audit_chain_hash) == (6, events[-1].chain_hash)
    assert chain.Head.from_dict(head.to_dict()) == head
    record(db, 2)  # events after the head do not matter to it
    report = chain.verify(db, head)
    assert report.ok and report.audit.ok
    # cut the last events and the record of their numbers, as someone with the file could
    tamper(db, "DELETE FROM audit_events WHERE seq >= 5")
    db.execute("UPDATE sqlite_sequence SET seq = 4 WHERE name = 'audit_events'")
    assert chain.verify(db).ok  # without the head, nothing shows
    problem = chain.verify(db, head).audit.problem
    assert (problem.kind, problem.seq) == ("truncated", 5)


def test_events_rewritten_up_to_the_head_with_every_hash_recomputed_are_found(db):
    record(db, 4)
    head = chain.head(db)
    tamper(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    previous = audit_chain.GENESIS
    for seq in range(1, 5):  # the whole chain made again, so it holds on its own
        row = dict(zip(audit_chain.CONTENT, db.execute(
            f"SELECT {', '.join(audit_chain.CONTENT)} FROM audit_events WHERE seq = ?", [seq]).fetchone()))
        content = audit_chain.content_hash(row)
        previous = audit_chain.chain_hash(previous, content, seq)
        db.execute("UPDATE audit_events SET content_hash = ?, chain_hash = ? WHERE seq = ?", [content, previous, seq])
    assert chain.verify(db).ok
    problem = chain.verify(db, head).audit.problem
    assert (problem.kind, problem.seq) == ("edited", 4)


def test_a_head_exported_before_the_events_were_chained_still_reads(db):
    record(db, 2)
    head = chain.head(db)
    old = {k: v for k, v in head.to_dict().items() if not k.startswith("audit_")}
    parsed = chain.Head.from_dict(old)
    assert parsed.audit_seq is None and chain.verify(db, parsed).ok
    with pytest.raises(Exception, match="not one this service exports"):
        chain.Head.from_dict({**old, "audit_seq": 1, "audit_chain_hash": "x"})


@pytest.mark.parametrize("field", ["chain_hash", "audit_chain_hash"])
def test_a_head_whose_hashes_are_not_hex_is_refused(db, field):
    head = {**chain.head(db).to_dict(), "audit_seq": 0, "audit_chain_hash": audit_chain.GENESIS}
    # 64 characters, but not a hash: "\ud800" from a JSON file would reach the database
    with pytest.raises(Exception, match="not one this service exports"):
        chain.Head.from_dict({**head, field: "\ud800" * 64})
    with pytest.raises(Exception, match="not one this service exports"):
        chain.Head.from_dict({**head, field: "g" * 64})
