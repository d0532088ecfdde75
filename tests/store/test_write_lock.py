"""What a write transaction changes while it holds the log's write lock is put back once it
lets go, whether it committed or failed: the connection's busy timeout. The interpreter's
switch interval is left alone (a shorter one while writing cost every thread of the
worker a switch every 0.1 ms, for no better latency)."""

import sys

import pytest

from app import store
from app.store import decision_log
from tests.store.test_decision_log import make


def _busy_timeout(db) -> int:
    return db.execute("PRAGMA busy_timeout").fetchone()[0]


def test_a_committed_write_puts_back_the_busy_timeout_and_leaves_the_switch_interval(db_path):
    db = store.connect(db_path, busy_timeout_ms=1234)
    before = sys.getswitchinterval()
    seen = []
    try:
        with store.db.immediate(db):
            seen.append((_busy_timeout(db), sys.getswitchinterval()))
        decision_log.record(db, [make(1)])
        assert _busy_timeout(db) == 1234
        assert sys.getswitchinterval() == before
    finally:
        db.close()
    assert seen == [(0, before)]


def test_a_failed_write_puts_it_back_too(db_path):
    holder = store.connect(db_path)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    db = store.connect(db_path, busy_timeout_ms=150)
    before = sys.getswitchinterval()
    try:
        with pytest.raises(store.LogUnavailable):
            decision_log.record(db, [make(1)])
        assert _busy_timeout(db) == 150
        assert sys.getswitchinterval() == before
        holder.execute("ROLLBACK")
        with pytest.raises(RuntimeError):
            with store.db.immediate(db):
                raise RuntimeError("the caller failed under the lock")
        assert _busy_timeout(db) == 150
        assert sys.getswitchinterval() == before
        assert decision_log.count(db) == 0
    finally:
        holder.close()
        db.close()


def test_a_writer_connection_keeps_its_busy_handler_off_and_still_gives_up_in_time(db_path):
    """A group commit's writer connection: SQLite's busy handler is off on it for good,
    so a transaction runs no statement to switch it; immediate() still waits for the
    write lock, and gives up after the connection's busy timeout. Any thread may use it."""
    import threading
    import time

    writer = store.connect(db_path, busy_timeout_ms=300, writer=True)
    statements: list[str] = []
    writer.conn.set_trace_callback(statements.append)
    try:
        done = []
        thread = threading.Thread(target=lambda: done.append(decision_log.record(writer, [make(1)])))
        thread.start()
        thread.join(30)
        assert [entry.decision.id for entry in done[0]] == ["dec-1"]
        assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
        assert not any("busy_timeout" in s for s in statements)
        assert _busy_timeout(writer) == 0

        holder = store.connect(db_path)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            started = time.monotonic()
            with pytest.raises(store.LogUnavailable):
                decision_log.record(writer, [make(2)])
            assert 0.25 < time.monotonic() - started < 5
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [e.decision.id for e in decision_log.record(writer, [make(2)])] == ["dec-2"]
        assert decision_log.count(writer) == 2
    finally:
        writer.close()
