"""Retention: purge removes the content of expired decisions not on hold, keeps held and
unexpired ones whole, and the chain still verifies and still proves what is left."""

import datetime as dt
import sqlite3

import pytest

from app.service import log_search as search
from app.store import audit, chain, retention
from app.store import decision_log
from app.store.audit import Actor
from app.store.errors import HoldNotFound, WrongStatus
from tests.store.test_chain import make, tamper

OPS = Actor("ops")
NOW = dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)


def old(n: int, customer: str) -> decision_log.Decision:
    d = make(n, customer)
    return decision_log.Decision(**{**d.__dict__, "decided_at": f"2018-0{1 + n % 9}-01T00:00:00.000000Z"})


@pytest.fixture
def log(log_db):
    # seq 1-6: eight years old; 7-9: this year. C-held is under a legal hold.
    decision_log.record(log_db, [old(1, "C-a"), old(2, "C-held"), old(3, "C-b"), old(4, "C-held"), old(5, "C-a"),
                                 old(6, "C-c")])
    decision_log.record(log_db, [make(7, "C-a"), make(8, "C-held"), make(9, "C-b")])
    retention.place_hold(log_db, "C-held", "litigation 2026-7", Actor("carol"))
    return log_db


def whole(db, seq: int) -> bool:
    row = db.execute(f"SELECT {', '.join(chain.KEPT + chain.PURGED)}, content_hash, purged_at FROM decisions "
                     "WHERE seq = ?", [seq]).fetchone()
    values = dict(zip(chain.KEPT + chain.PURGED, row))
    return row[-1] is None and chain.record_hash(values) == row[-2]


def test_purge_keeps_held_and_unexpired_records_whole_and_the_chain_verifiable(log):
    before = {seq: decision_log.get(log, f"dec-{seq:04d}") for seq in range(1, 10)}
    report = retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW)
    assert (report.expired, report.held, report.purged) == (6, 2, 4)
    assert (report.first_seq, report.last_seq) == (1, 6)
    for seq in (2, 4, 7, 8, 9):  # held, or within the retention period
        assert whole(log, seq)
        assert decision_log.get(log, f"dec-{seq:04d}") == before[seq]
    for seq in (1, 3, 5, 6):
        row = log.execute(f"SELECT {', '.join(chain.PURGED)}, purged_at, purged_digest, level, decided_at "
                          "FROM decisions WHERE seq = ?", [seq]).fetchone()
        assert row[:len(chain.PURGED)] == (None,) * len(chain.PURGED)
        assert row[-4] and row[-3] and row[-2] == "orange" and row[-1].startswith("2018")
        with pytest.raises(decision_log.DecisionPurged):
            decision_log.get(log, f"dec-{seq:04d}")
    report = chain.verify(log)
    assert report.ok and report.checked == 9 and report.purged == 4


def test_a_dry_run_counts_and_changes_nothing(log):
    head = chain.head(log)
    report = retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW, dry_run=True)
    assert (report.expired, report.held, report.purged, report.dry_run) == (6, 2, 0, True)
    assert all(whole(log, seq) for seq in range(1, 10))
    assert chain.verify(log, head).ok


def test_purged_records_are_no_longer_found_by_their_content(log):
    assert len(search.search(log, search.Filters(rule="EXT-001")).decisions) == 9
    retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW)
    assert [d["seq"] for d in search.search(log, search.Filters(rule="EXT-001")).decisions] == [9, 8, 7, 4, 2]
    assert [d["seq"] for d in search.search(log, search.Filters(q="overdue")).decisions] == [9, 8, 7, 4, 2]
    purged = search.search(log, search.Filters(level="orange")).decisions
    assert [d["seq"] for d in purged] == list(range(9, 0, -1))
    assert {d["customer_id"] for d in purged if d["purged_at"]} == {None}


def test_a_released_hold_lets_the_next_purge_take_its_records(log):
    retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW)
    [hold] = retention.list_holds(log, customer_id="C-held")
    retention.release_hold(log, hold.hold_id, Actor("carol"), "settled")
    report = retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW)
    assert (report.purged, report.held, report.first_seq, report.last_seq) == (2, 0, 2, 4)
    assert whole(log, 8) and chain.verify(log).ok
    with pytest.raises(WrongStatus):
        retention.release_hold(log, hold.hold_id, Actor("carol"))
    with pytest.raises(HoldNotFound):
        retention.release_hold(log, "nope", Actor("carol"))
    actions = [e.action for e in audit.list_events(log, limit=1000).events
               if e.action.startswith(("hold.", "decision."))]
    assert actions == ["hold.place", "decision.purge", "hold.release", "decision.purge"]


def test_purging_in_batches_gives_each_batch_its_audit_event(log):
    retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW, batch=3)
    purges = [e.details for e in audit.list_events(log, action="decision.purge").events]
    assert [(p["first_seq"], p["last_seq"], p["count"]) for p in purges] == [(1, 5, 3), (6, 6, 1)]


def test_only_the_purge_transition_is_allowed(log):
    retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW)
    for statement in ("UPDATE decisions SET snapshot = '{}' WHERE seq = 1",   # un-purge
                      "UPDATE decisions SET level = 'green' WHERE seq = 1",   # edit what purge kept
                      "UPDATE decisions SET snapshot = NULL, purged_at = 'x', purged_digest = 'y' WHERE seq = 7",
                      "UPDATE decisions SET purged_at = 'x' WHERE seq = 8"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            log.execute(statement)


def test_an_edit_of_a_purged_record_is_still_found(log):
    retention.purge(log, retention_days=7 * 365, actor=OPS, now=NOW)
    tamper(log, "UPDATE decisions SET level = 'green' WHERE seq = 3")
    problem = chain.verify(log).problem
    assert (problem.kind, problem.seq) == ("edited", 3)


def test_a_record_half_purged_by_hand_is_found(log):
    tamper(log, "UPDATE decisions SET snapshot = NULL, purged_at = 'x', purged_digest = 'y' WHERE seq = 7")
    problem = chain.verify(log).problem
    assert (problem.kind, problem.seq) == ("edited", 7)
    assert "purged" in problem.message
