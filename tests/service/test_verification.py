"""Verifying the log in the background: progress written while it runs, the result and
its audit event when done, a stalled run told apart."""

import datetime as dt
import sqlite3

import pytest

from app import store
from app.service import verification
from app.store import audit, chain, times, verifications
from app.store.audit import Actor


@pytest.fixture
def path(empty_db_path):
    return empty_db_path


def test_a_verification_writes_its_progress_then_its_result(path, monkeypatch):
    db = store.connect(path)
    for i in range(4500):
        audit.record_event(db, "ana", "decision.read", f"decision:d-{i}")
    written = []
    real = verifications.progress
    monkeypatch.setattr(verifications, "progress",
                        lambda conn, job_id, done, total: (written.append((done, total)), real(conn, job_id, done, total)))
    job = verifications.create(db, Actor("carol", "k1"), None)
    verification.run({"VIGIL_DATABASE": path}, job.id, None, Actor("carol", "k1"), every=0)
    assert (2000, 4500) in written and (4000, 4500) in written  # while it ran
    done = verifications.get(db, job.id)
    assert done.status == "done" and done.report["ok"] is True
    assert done.report["audit_events"]["checked"] == 4500
    assert (done.progress_done, done.progress_total) == (4500, 4500)
    [event] = audit.list_events(db, action="decision.verify").events
    assert event.actor == "carol" and event.details["ok"] is True
    db.close()


def test_a_broken_audit_chain_is_in_the_result_and_its_event(path):
    db = store.connect(path)
    for i in range(3):
        audit.record_event(db, "ana", "decision.read", f"decision:d-{i}")
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_events_no_update")
    conn.execute("UPDATE audit_events SET target = 'decision:other' WHERE seq = 2")
    conn.commit()
    conn.close()
    job = verification.start(db, {"VIGIL_DATABASE": path}, Actor("carol"), None, wait=5)
    assert job.status == "done" and job.report["ok"] is False
    assert job.report["audit_events"]["problem"]["seq"] == 2
    [event] = audit.list_events(db, action="decision.verify").events
    assert event.details["audit_events"]["problem"]["kind"] == "edited"
    db.close()


def test_a_verification_against_a_head_keeps_the_head(path):
    db = store.connect(path)
    head = chain.head(db)
    job = verification.start(db, {"VIGIL_DATABASE": path}, Actor("carol"), head, wait=5)
    assert job.against["seq"] == head.seq and job.report["against_head"]["ok"] is True
    db.close()


def test_a_run_whose_progress_stopped_is_stalled(path):
    db = store.connect(path)
    job = verifications.create(db, Actor("carol"), None)
    assert not verifications.get(db, job.id).stalled
    old = times.iso(times.now() - verifications.STALLED_AFTER - dt.timedelta(seconds=1))
    db.execute("UPDATE log_verifications SET updated_at = ? WHERE id = ?", [old, job.id])
    assert verifications.get(db, job.id).stalled
    verifications.finish(db, job.id, {"ok": True}, 0)
    assert not verifications.get(db, job.id).stalled
    db.close()


def test_a_run_that_cannot_read_the_log_is_marked_failed(path, monkeypatch):
    db = store.connect(path)
    job = verifications.create(db, Actor("carol"), None)

    def unavailable(*args, **kwargs):
        raise store.LogUnavailable()

    monkeypatch.setattr(chain, "verify", unavailable)
    verification.run({"VIGIL_DATABASE": path}, job.id, None, Actor("carol"))
    failed = verifications.get(db, job.id)
    assert failed.status == "failed" and "could not be read" in failed.error
    assert audit.list_events(db, action="decision.verify").events == []
    db.close()
