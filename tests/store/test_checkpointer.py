"""The write-ahead log is checkpointed by a thread of its own: a commit on a service
connection does not copy the log into the database file; the Checkpointer does, soon
after it is told of a write, and its thread ends when writes stop."""

import os
import time

from app import store
from app.store import decision_log
from app.store.db import SERVICE_AUTOCHECKPOINT_PAGES, Checkpointer
from tests.store.test_decision_log import make


def _wait(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _write(db, first: int, n: int) -> None:
    for i in range(first, first + n):
        decision_log.record(db, [make(i)])


def test_service_commits_leave_the_checkpoint_to_the_checkpointer(db_path):
    db = store.connect(db_path, autocheckpoint=SERVICE_AUTOCHECKPOINT_PAGES)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = os.path.getsize(db_path)
        _write(db, 0, 1500)  # well past SQLite's default of 1,000 pages
        assert os.path.getsize(db_path) == size, "a commit checkpointed"
        assert os.path.getsize(db_path + "-wal") > 1000 * 4096

        checkpointer = Checkpointer(db_path, delay=0.01, idle=30)
        checkpointer.written()
        assert _wait(lambda: checkpointer.checkpoints >= 1)
        assert os.path.getsize(db_path) > size
        assert decision_log.count(db) == 1500
    finally:
        db.close()


def test_the_thread_ends_when_writes_stop_and_starts_again_on_the_next(db_path):
    db = store.connect(db_path, autocheckpoint=SERVICE_AUTOCHECKPOINT_PAGES)
    checkpointer = Checkpointer(db_path, delay=0.01, idle=0.2)
    try:
        _write(db, 0, 10)
        checkpointer.written()
        assert _wait(lambda: checkpointer.checkpoints == 1)
        assert _wait(lambda: checkpointer._thread is None)
        _write(db, 10, 10)
        checkpointer.written()
        assert _wait(lambda: checkpointer.checkpoints == 2)
        assert checkpointer.failures == 0
    finally:
        db.close()
        assert _wait(lambda: checkpointer._thread is None)


def test_a_missing_log_is_a_failure_that_is_tried_again(tmp_path, db_path):
    checkpointer = Checkpointer(str(tmp_path / "missing.db"), delay=0.01, idle=0.2)
    checkpointer.written()
    assert _wait(lambda: checkpointer.failures == 1)
    assert checkpointer.checkpoints == 0
    assert _wait(lambda: checkpointer._thread is None)
