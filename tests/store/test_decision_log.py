import os
import sqlite3
import threading

import pytest

from app import store
from app.store import decision_log


def make(n: int, client_request_id: str | None = None, request_hash: str = "sha256:r") -> decision_log.Decision:
    return decision_log.Decision(
        id=f"dec-{n}", decided_at="2026-04-01T00:00:00Z", customer_id=f"C-{n}", ruleset_id="retail_card",
        ruleset_version=1, ruleset_hash="sha256:h", client_request_id=client_request_id, request_hash=request_hash,
        level="green", review_frequency="annual", snapshot='{"a":"1.10"}', result='{"actions":[]}', trail="[]",
        response=f'{{"decision_id":"dec-{n}"}}')


def test_recorded_decision_reads_back_unchanged(log_db):
    decision = make(1)
    [logged] = decision_log.record(log_db, [decision])
    assert logged == decision_log.Logged(decision, replayed=False)
    assert decision_log.get(log_db, "dec-1") == decision


def test_sequence_increases_in_write_order(log_db):
    decision_log.record(log_db, [make(1), make(2)])
    decision_log.record(log_db, [make(3)])
    rows = log_db.execute("SELECT seq, id FROM decisions ORDER BY seq").fetchall()
    assert [r[1] for r in rows] == ["dec-1", "dec-2", "dec-3"]
    assert [r[0] for r in rows] == sorted({r[0] for r in rows})


def test_same_client_request_id_returns_the_first_decision(log_db):
    first = make(1, client_request_id="req-1")
    decision_log.record(log_db, [first])
    [again] = decision_log.record(log_db, [make(2, client_request_id="req-1")])
    assert again.replayed and again.decision == first
    assert decision_log.count(log_db) == 1


def test_repeated_client_request_id_within_one_call(log_db):
    logged = decision_log.record(log_db, [make(1, "req-1"), make(2, "req-1"), make(3)])
    assert [entry.decision.id for entry in logged] == ["dec-1", "dec-1", "dec-3"]
    assert [entry.replayed for entry in logged] == [False, True, False]
    assert decision_log.count(log_db) == 2


def test_unknown_decision(log_db):
    with pytest.raises(store.DecisionNotFound):
        decision_log.get(log_db, "nope")


def test_log_is_append_only(log_db):
    decision_log.record(log_db, [make(1)])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log_db.execute("UPDATE decisions SET level = 'red'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log_db.execute("DELETE FROM decisions")


def test_batch_is_one_transaction(log_db):
    # The id is unique: the second decision fails, so the first must not stay logged.
    with pytest.raises(store.LogUnavailable):
        decision_log.record(log_db, [make(1), make(1)])
    assert decision_log.count(log_db) == 0


def test_refused_write_raises_log_unavailable(log_db):
    log_db.execute("PRAGMA query_only = 1")
    with pytest.raises(store.LogUnavailable):
        decision_log.record(log_db, [make(1)])


def test_removed_file_is_noticed_before_commit(db_path, log_db):
    # SQLite keeps writing into a deleted file; the write must not count as logged.
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_path + suffix):
            os.remove(db_path + suffix)
    with pytest.raises(store.LogUnavailable):
        decision_log.record(log_db, [make(1)])
    with pytest.raises(store.LogUnavailable):
        decision_log.check(log_db)


def _logged_ids(path: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM decisions ORDER BY seq")]
    finally:
        conn.close()


def _restore_mode(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.chmod(path + suffix, 0o644)


def test_a_log_made_read_only_while_writing_logs_nothing(db_path, log_db):
    # The operator makes the file read-only while the decision is being written (a
    # trigger does it from inside the transaction): the refusal must roll it back, so
    # the 503 the caller gets is true.
    log_db.conn.create_function("make_read_only", 0, lambda: os.chmod(db_path, 0o444))
    log_db.execute("CREATE TEMP TRIGGER chmod_mid_write AFTER INSERT ON main.decisions "
                   "BEGIN SELECT make_read_only(); END")
    try:
        with pytest.raises(store.LogUnavailable):
            decision_log.record(log_db, [make(1), make(2)])
    finally:
        _restore_mode(db_path)
    assert _logged_ids(db_path) == []


class _ChmodAtCommit:
    """A connection that makes the log read-only just before COMMIT runs, after every
    check the writer makes: what a chmod a moment too late for the writer looks like."""

    def __init__(self, conn: sqlite3.Connection, path: str):
        self._conn, self._path = conn, path

    def execute(self, sql, *args):
        if sql.strip().upper() == "COMMIT":
            os.chmod(self._path, 0o444)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_a_committed_decision_is_answered_though_the_log_turned_read_only(db_path, log_db):
    log_db.conn = _ChmodAtCommit(log_db.conn, db_path)
    try:
        logged = decision_log.record(log_db, [make(1)])
    finally:
        log_db.conn = log_db.conn._conn
        _restore_mode(db_path)
    # COMMIT went through: the decision is in the log, so the caller gets it.
    assert [entry.decision.id for entry in logged] == ["dec-1"]
    assert _logged_ids(db_path) == ["dec-1"]
    # The next write sees the read-only file and refuses, logging nothing.
    os.chmod(db_path, 0o444)
    try:
        with pytest.raises(store.LogUnavailable):
            decision_log.record(log_db, [make(2)])
    finally:
        _restore_mode(db_path)
    assert _logged_ids(db_path) == ["dec-1"]


def test_connect_never_creates_a_missing_log(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(store.LogUnavailable):
        store.connect(str(path))
    assert not path.exists()


def test_concurrent_writers_lose_nothing(db_path):
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        db = store.connect(db_path)
        try:
            for i in range(50):
                decision_log.record(db, [make(w * 1000 + i)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = store.connect(db_path)
    assert decision_log.count(db) == 300
    seqs = [r[0] for r in db.execute("SELECT seq FROM decisions ORDER BY seq")]
    assert len(set(seqs)) == 300
    db.close()


def test_writer_gives_up_after_its_busy_timeout(db_path):
    holder = store.connect(db_path)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    writer = store.connect(db_path, busy_timeout_ms=150)
    try:
        import time

        started = time.monotonic()
        with pytest.raises(store.LogUnavailable):
            decision_log.record(writer, [make(1)])
        # Its own 150 ms, not the default 5 s (the upper bound leaves room for a loaded machine).
        assert 0.14 <= time.monotonic() - started < 4.5
        holder.execute("ROLLBACK")
        decision_log.record(writer, [make(2)])  # and works again once the lock is free
        assert decision_log.count(writer) == 1
    finally:
        holder.close()
        writer.close()


@pytest.mark.parametrize(("setting", "value"), [("NORMAL", 1), ("FULL", 2)])
def test_synchronous_setting_is_applied(db_path, setting, value):
    db = store.connect(db_path, synchronous=setting)
    assert db.execute("PRAGMA synchronous").fetchone()[0] == value
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
