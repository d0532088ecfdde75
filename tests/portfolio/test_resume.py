"""Interrupting a review and resuming it: the same results file as a run that was not
interrupted, and no customer logged twice."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import store
from app.portfolio.readers import SnapshotFile
from app.portfolio.review import ReviewError, Tally, checkpoint_path, read_checkpoint, review

from .helpers import generated, personal_loan, write_csv

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")
ROWS = 3000


def _flask(*args):
    return [FLASK, "--app", "wsgi", "portfolio", *args]


def _log_rows(db_path) -> list[dict]:
    db = store.connect(db_path)
    try:
        return list(db.query("SELECT customer_id, client_request_id FROM decisions ORDER BY seq"))
    finally:
        db.close()


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait_for_lines(proc, results: Path, lines: int, stderr: Path) -> None:
    deadline = time.monotonic() + 120
    while _lines(results) < lines:
        assert proc.poll() is None, stderr.read_text()[-2000:]
        assert time.monotonic() < deadline, "the review made no progress"
        time.sleep(0.005)


def _ctrl_c_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _hold_the_log(proc, db_path) -> sqlite3.Connection:
    """Stop the review where it is (SIGSTOP to its process group acts at once, however
    loaded the machine), then take the log's write lock, which it needs to log, and so to
    write, another chunk. Waiting for the lock while the review runs instead could let it
    finish first: it takes the lock back within a fraction of a millisecond, while
    SQLite's busy handler sleeps up to 100 ms between tries."""
    os.killpg(proc.pid, signal.SIGSTOP)
    lock = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    while True:
        try:
            lock.execute("BEGIN IMMEDIATE")
            return lock
        except sqlite3.OperationalError:
            # Stopped in the middle of logging a chunk: let it commit, and stop it again.
            os.killpg(proc.pid, signal.SIGCONT)
            time.sleep(0.001)
            os.killpg(proc.pid, signal.SIGSTOP)


def test_killed_review_resumes_to_the_same_file_and_logs_no_one_twice(tmp_path, db_path):
    source = generated(tmp_path / "portfolio.jsonl", ROWS)
    results = tmp_path / "results.jsonl"
    env = {**os.environ, "VIGIL_DATABASE": db_path, "VIGIL_SQLITE_BUSY_TIMEOUT_MS": "60000"}
    command = _flask("review", str(source), "--ruleset", "personal_loan", "--out", str(results), "--log",
                     "--run-id", "kill-test", "--workers", "2", "--chunk-size", "10", "--no-progress")
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    try:
        _wait_for_lines(proc, results, 300, stderr)
        # Stopped at once, then killed: it is surely killed midway.
        os.killpg(proc.pid, signal.SIGSTOP)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _lines(results)
    assert 300 <= killed_at < ROWS
    state = read_checkpoint(results)
    assert state is not None and not state["complete"] and state["rows"] < ROWS
    logged_before = _log_rows(db_path)
    assert len(logged_before) < ROWS

    resumed = subprocess.run(_flask("review", str(source), "--out", str(results), "--resume", "--workers", "2",
                                    "--no-progress"), cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Reviewed {ROWS:,} records" in resumed.stdout
    assert "resumed at line" in resumed.stdout

    ruleset = personal_loan()
    review(ruleset, SnapshotFile(source, ruleset.contract), tmp_path / "straight.jsonl", workers=1,
           progress=False)
    assert results.read_bytes() == (tmp_path / "straight.jsonl").read_bytes()

    rows = _log_rows(db_path)
    assert len(rows) == ROWS
    assert len({r["client_request_id"] for r in rows}) == ROWS
    assert len({r["customer_id"] for r in rows}) == ROWS
    assert {r["client_request_id"] for r in rows} == {f"review:kill-test:{n}" for n in range(1, ROWS + 1)}
    assert rows[:len(logged_before)] == logged_before


def _start(tmp_path, rows=300, fmt="jsonl", **kw):
    ruleset = personal_loan()
    source = generated(tmp_path / "in.jsonl", rows)
    if fmt == "csv":
        source = write_csv(tmp_path / "in.csv", [json.loads(line) for line in source.read_text().splitlines()])
    results = tmp_path / "out.jsonl"
    summary = review(ruleset, SnapshotFile(source, ruleset.contract), results, workers=0, progress=False,
                     run_id="r", **kw)
    return ruleset, source, results, summary


def _as_if_stopped(results: Path, keep_lines: int, torn: bytes = b"", checkpoint_lines: int = 0):
    """Make the results file and checkpoint what a crash could leave: the checkpoint at
    ``checkpoint_lines``, ``keep_lines`` complete lines after all, then a torn line."""
    data = results.read_bytes()
    lines = data.splitlines(keepends=True)
    results.write_bytes(b"".join(lines[:keep_lines]) + torn)
    state = read_checkpoint(results)
    kept = lines[:checkpoint_lines]
    tally = Tally()
    for line in kept:
        tally.add(json.loads(line))
    ruleset_source = SnapshotFile(state["input"]["path"], personal_loan().contract)
    records = list(ruleset_source.records())
    end = records[checkpoint_lines - 1] if checkpoint_lines else None
    state.update(complete=False, rows=checkpoint_lines, tally=tally.to_dict(),
                 results_bytes=sum(len(x) for x in kept),
                 input_offset=end.end if end else ruleset_source.data_start,
                 next_line=end.next_line if end else ruleset_source.data_line)
    checkpoint_path(results).write_text(json.dumps(state))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_keeps_lines_written_after_the_checkpoint_and_drops_a_torn_line(tmp_path, fmt):
    ruleset, source, results, first = _start(tmp_path, fmt=fmt)
    whole = results.read_bytes()
    _as_if_stopped(results, keep_lines=170, torn=b'{"line":171,"customer_id":"P-00', checkpoint_lines=100)
    summary = review(ruleset, SnapshotFile(source, ruleset.contract), results, resume=True, workers=2,
                     progress=False)
    assert results.read_bytes() == whole
    # records 101-170 were taken from the results file, not evaluated again
    assert summary.resumed_at_line == (171 if fmt == "jsonl" else 172)   # CSV: the header is line 1
    assert summary.rows_this_run == 130
    assert summary.tally.to_dict() == first.tally.to_dict()


def test_resume_after_decisions_were_logged_but_their_results_not_written(tmp_path, db_path):
    ruleset, source, results, first = _start(tmp_path, log=db_path)
    whole = results.read_bytes()
    assert first.logged == 300
    _as_if_stopped(results, keep_lines=120, checkpoint_lines=120)
    summary = review(ruleset, SnapshotFile(source, ruleset.contract), results, resume=True, workers=2,
                     progress=False, log=db_path)
    assert results.read_bytes() == whole
    assert (summary.logged, summary.already_logged) == (0, 180)
    assert len(_log_rows(db_path)) == 300


def test_resume_refuses_a_changed_input_or_another_log(tmp_path, db_path):
    ruleset, source, results, _ = _start(tmp_path, rows=50)
    _as_if_stopped(results, keep_lines=20, checkpoint_lines=20)
    with pytest.raises(ReviewError, match="the review started logging to no decision log"):
        review(ruleset, SnapshotFile(source, ruleset.contract), results, resume=True, progress=False, log=db_path)
    with open(source, "a") as fh:
        fh.write("\n")
    with pytest.raises(ReviewError, match="is not the input the review started on, or it has changed"):
        review(ruleset, SnapshotFile(source, ruleset.contract), results, resume=True, progress=False)


def test_resume_of_a_finished_review_changes_nothing(tmp_path):
    ruleset, source, results, first = _start(tmp_path, rows=40)
    whole = results.read_bytes()
    again = review(ruleset, SnapshotFile(source, ruleset.contract), results, resume=True, progress=False)
    assert results.read_bytes() == whole
    assert again.rows_this_run == 0 and again.tally.rows == 40


def test_ctrl_c_stops_with_a_checkpoint_and_says_how_to_carry_on(tmp_path, db_path):
    # enough records that the review cannot finish between the test seeing 200 results
    # and holding the log's write lock, however busy the machine
    count = 15_000
    source = generated(tmp_path / "portfolio.jsonl", count)
    results = tmp_path / "results.jsonl"
    env = {**os.environ, "VIGIL_DATABASE": db_path, "VIGIL_SQLITE_BUSY_TIMEOUT_MS": "60000"}
    command = _flask("review", str(source), "--ruleset", "personal_loan", "--out", str(results), "--log",
                     "--workers", "2", "--chunk-size", "10", "--no-progress")
    with open(tmp_path / "stdout.txt", "wb") as out, open(tmp_path / "stderr.txt", "wb") as err:
        # As from a terminal: a test run started in the background (nohup, `&` in a script)
        # ignores SIGINT, and a child would inherit that and never see the Ctrl-C.
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True,
                                preexec_fn=_ctrl_c_as_from_a_terminal)
    lock = None
    try:
        _wait_for_lines(proc, results, 200, tmp_path / "stderr.txt")
        # With the review stopped and the log's lock held, it cannot finish before Ctrl-C
        # reaches it; the lock is held until it has exited.
        lock = _hold_the_log(proc, db_path)
        assert _lines(results) < ROWS
        os.killpg(proc.pid, signal.SIGCONT)    # running again, and waiting for the lock
        os.killpg(proc.pid, signal.SIGINT)     # what Ctrl-C sends to the terminal's process group
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if lock is not None:
            lock.execute("ROLLBACK")
            lock.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130, stderr[-2000:]
    assert f"Interrupted. Carry on with: flask --app wsgi portfolio review {source} --out {results} --resume" in stderr
    state = read_checkpoint(results)
    assert not state["complete"] and 200 <= state["rows"] < count
    assert _lines(results) == state["rows"]
    assert f"Stopped after {state['rows']:,} records" in stderr

    resumed = subprocess.run(_flask("review", str(source), "--out", str(results), "--resume", "--no-progress"),
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ruleset = personal_loan()
    review(ruleset, SnapshotFile(source, ruleset.contract), tmp_path / "straight.jsonl", workers=2, progress=False)
    assert results.read_bytes() == (tmp_path / "straight.jsonl").read_bytes()
    rows = _log_rows(db_path)
    assert len(rows) == len({r["client_request_id"] for r in rows}) == count
