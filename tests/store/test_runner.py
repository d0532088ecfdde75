"""Which process runs a background job: a job whose process ended is told apart at once,
and a job whose process is alive, or cannot be told about, is not."""

import socket
import subprocess
import sys

import pytest

from app.store import runner, simulations, verifications
from app.store.audit import Actor


@pytest.fixture
def db(empty_db):
    return empty_db


def ended_process() -> str:
    """The runner name of a process that has run and ended."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    name = f"{socket.gethostname()}:{proc.pid}:{runner._started(proc.pid)}"
    assert runner.alive(name)
    proc.communicate(b"")
    return name


def test_a_process_is_alive_until_it_ends_and_a_reused_pid_is_not_it():
    assert runner.alive(runner.this_process())
    assert not runner.alive(ended_process())
    host, pid, started = runner.this_process().rsplit(":", 2)
    assert not runner.alive(f"{host}:{pid}:{int(started) + 1}")  # the same pid, another process
    for unknown in (None, "", "not a runner", f"another-host:{pid}:1"):
        assert runner.alive(unknown)


def test_a_simulation_whose_process_ended_is_failed_when_read(db):
    alive = simulations.create(db, Actor("alice"), {"ruleset_id": "retail_card"}, 10)
    assert simulations.get(db, alive.id).status == "queued"
    for status in ("queued", "running"):
        orphan = simulations.create(db, Actor("alice"), {"ruleset_id": "retail_card"}, 10)
        db.execute("UPDATE simulations SET status = ?, runner = ? WHERE id = ?", [status, ended_process(), orphan.id])
        read = simulations.get(db, orphan.id)
        assert (read.status, read.error) == ("failed", simulations.STOPPED) and read.finished_at
    finished = simulations.create(db, Actor("alice"), {"ruleset_id": "retail_card"}, 1)
    simulations.finish(db, finished.id, {"snapshots": 1})
    db.execute("UPDATE simulations SET runner = ? WHERE id = ?", [ended_process(), finished.id])
    assert simulations.get(db, finished.id).status == "done"  # what ended well stays done


def test_a_verification_whose_process_ended_is_stalled_at_once(db):
    job = verifications.create(db, Actor("carol"), None)
    assert not verifications.get(db, job.id).stalled
    db.execute("UPDATE log_verifications SET runner = ? WHERE id = ?", [ended_process(), job.id])
    assert verifications.get(db, job.id).stalled
