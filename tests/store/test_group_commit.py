"""Group commit: decisions logged by many threads at once share transactions, each
thread gets its own decisions back, the chain stays one line, and a failure is only
the failure of the decisions it concerns."""

import os
import threading

import pytest

from app import store
from app.store import chain, decision_log
from app.store.group_commit import GroupCommit
from tests.store.test_decision_log import make


def _threads(target, n: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_units_queued_while_one_commits_share_the_next_transaction(db_path):
    """The first writer is held inside its transaction until every other thread has
    queued: the others then go in one transaction together, and each gets its own rows."""
    release = threading.Event()
    calls: list[int] = []

    def write(db, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            assert release.wait(30)
        return decision_log.record(db, rows)

    group = GroupCommit(write)
    answers: dict[int, list] = {}

    def writer(i: int) -> None:
        db = store.connect(db_path)
        try:
            answers[i] = group.write(db, [make(i * 10), make(i * 10 + 1)])
        finally:
            db.close()

    first = threading.Thread(target=writer, args=(0,))
    first.start()
    while not calls:
        threading.Event().wait(0.01)

    def waiting() -> int:
        with group._cond:
            return len(group._queue)

    others = [threading.Thread(target=writer, args=(i,)) for i in range(1, 9)]
    for t in others:
        t.start()
    while waiting() < 9:
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *others]:
        t.join(timeout=60)
    assert calls == [2, 16]
    assert (group.transactions, group.units) == (2, 9)
    for i in range(9):
        assert [entry.decision.id for entry in answers[i]] == [f"dec-{i * 10}", f"dec-{i * 10 + 1}"]
        assert not any(entry.replayed for entry in answers[i])
    db = store.connect(db_path)
    try:
        assert decision_log.count(db) == 18
        assert chain.verify(db).ok
    finally:
        db.close()


def test_many_threads_at_once_lose_nothing_and_keep_one_chain(db_path):
    group = GroupCommit(decision_log.record)

    def writer(w: int) -> None:
        db = store.connect(db_path)
        try:
            for i in range(40):
                [entry] = group.write(db, [make(w * 1000 + i)])
                assert entry.decision.id == f"dec-{w * 1000 + i}" and not entry.replayed
        finally:
            db.close()

    assert _threads(writer, 8) == []
    assert group.units == 320 and group.transactions <= 320
    db = store.connect(db_path)
    try:
        assert decision_log.count(db) == 320
        assert chain.verify(db).ok
    finally:
        db.close()


def test_a_unit_that_fails_fails_alone(db_path):
    """A group that fails for another reason than the log is written again unit by
    unit: only the bad unit's thread gets the error."""
    release = threading.Event()
    seen: list[int] = []

    def write(db, rows):
        seen.append(len(rows))
        if len(seen) == 1:
            assert release.wait(30)
        if any(row.customer_id == "C-666" for row in rows):
            raise ValueError("a bad row")
        return decision_log.record(db, rows)

    group = GroupCommit(write)
    outcome: dict[int, object] = {}

    def writer(i: int) -> None:
        db = store.connect(db_path)
        try:
            outcome[i] = group.write(db, [make(666 if i == 3 else i)])
        except ValueError as exc:
            outcome[i] = exc
        finally:
            db.close()

    first = threading.Thread(target=writer, args=(0,))
    first.start()
    while not seen:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=writer, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    while len(group._queue) < 6:
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *others]:
        t.join(timeout=60)
    assert isinstance(outcome[3], ValueError)
    assert sorted(i for i, o in outcome.items() if isinstance(o, list)) == [0, 1, 2, 4, 5]
    db = store.connect(db_path)
    try:
        assert decision_log.count(db) == 5
        assert chain.verify(db).ok
    finally:
        db.close()


def test_an_unavailable_log_fails_the_whole_group_and_logs_nothing(db_path):
    holder = store.connect(db_path)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    group = GroupCommit(decision_log.record)
    try:
        def writer(i: int) -> None:
            db = store.connect(db_path, busy_timeout_ms=200)
            try:
                group.write(db, [make(i)])
            finally:
                db.close()

        errors = _threads(writer, 4)
        assert len(errors) == 4 and all(isinstance(e, store.LogUnavailable) for e in errors)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    db = store.connect(db_path)
    try:
        assert decision_log.count(db) == 0
    finally:
        db.close()


def test_a_group_is_never_larger_than_its_limit_but_a_big_unit_still_goes(db_path):
    sizes: list[int] = []

    def write(db, rows):
        sizes.append(len(rows))
        return decision_log.record(db, rows)

    group = GroupCommit(write, max_items=3)
    db = store.connect(db_path)
    try:
        assert len(group.write(db, [make(i) for i in range(5)])) == 5
    finally:
        db.close()
    assert sizes == [5]


@pytest.mark.parametrize("n", [1, 2])
def test_the_same_client_request_id_in_one_group_is_logged_once(db_path, n):
    group = GroupCommit(decision_log.record)
    db = store.connect(db_path)
    try:
        entries = group.write(db, [make(1, client_request_id="r-1"), *[make(2 + i, client_request_id="r-1")
                                                                      for i in range(n)]])
    finally:
        db.close()
    assert [e.replayed for e in entries] == [False] + [True] * n
    assert all(e.decision.id == "dec-1" for e in entries)


def test_with_a_connect_every_group_goes_through_one_writer_connection(db_path):
    """Threads with no connection of their own: the first leader opens the writer
    connection and every group after it uses the same one."""
    opened = []

    def connect():
        opened.append(store.connect(db_path, writer=True))
        return opened[-1]

    group = GroupCommit(decision_log.record, connect=connect)

    def writer(w: int) -> None:
        for i in range(30):
            [entry] = group.write(None, [make(w * 1000 + i)])
            assert entry.decision.id == f"dec-{w * 1000 + i}" and not entry.replayed

    try:
        assert _threads(writer, 6) == []
        assert group.units == 180 and group.connections == 1 and len(opened) == 1
        assert decision_log.count(opened[0]) == 180
        assert chain.verify(opened[0]).ok
    finally:
        for db in opened:
            db.close()


def test_the_writer_connection_is_dropped_when_the_log_goes_and_opened_again_when_it_is_back(db_path, tmp_path):
    opened = []

    def connect():
        opened.append(store.connect(db_path, writer=True))
        return opened[-1]

    group = GroupCommit(decision_log.record, connect=connect)
    moved = str(tmp_path / "moved.db")
    try:
        assert len(group.write(None, [make(1)])) == 1
        os.rename(db_path, moved)  # the log is moved away: nothing may be answered
        with pytest.raises(store.LogUnavailable):
            group.write(None, [make(2)])
        with pytest.raises(store.LogUnavailable):  # and no log can be opened at its path
            group.write(None, [make(3)])
        assert group.connections == 1
        os.rename(moved, db_path)
        assert [e.decision.id for e in group.write(None, [make(4)])] == ["dec-4"]
        assert group.connections == 2
        assert decision_log.count(opened[-1]) == 2
        assert chain.verify(opened[-1]).ok
    finally:
        for db in opened:
            db.close()
