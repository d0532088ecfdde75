"""Portfolio reviews open follow-up tasks as every logged decision does: once (a review
run again logs nothing twice and opens nothing twice), with a summary per owner, on this
machine and on a Dask cluster; a later review reads the overdue ones."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

import pytest

from app import store
from tests.service.test_followup import loan

from .helpers import write_jsonl
from .test_dask import FLASK, ROOT, dask_cluster  # noqa: F401 (the module's cluster fixture)


def _review(db_path, source, out, *args, env=None):
    return subprocess.run(FLASK + ["portfolio", "review", str(source), "--ruleset", "personal_loan", "--out", str(out),
                                   "--log", "--no-progress", *args],
                          cwd=ROOT, env={**os.environ, "VIGIL_DATABASE": db_path,
                                         "VIGIL_SQLITE_BUSY_TIMEOUT_MS": "60000", **(env or {})},
                          capture_output=True, text=True, timeout=240)


def _tasks(db_path) -> list[tuple]:
    db = store.connect(db_path)
    try:
        return db.execute("SELECT customer_id, action, owner, queue, status FROM tasks ORDER BY customer_id").fetchall()
    finally:
        db.close()


def _events(db_path) -> int:
    db = store.connect(db_path)
    try:
        return db.execute("SELECT count(*) FROM task_events").fetchone()[0]
    finally:
        db.close()


def book(tmp_path):
    snaps = [loan("L-1", "rm-1"), loan("L-2", "rm-1"), loan("L-3", "rm-2"), loan("L-4", "rm-2", overdue=0),
             loan("L-5", None)]
    snaps[4]["customer"].pop("account_manager")
    snaps[4]["customer"]["branch"] = "B-9"
    return write_jsonl(tmp_path / "book.jsonl", snaps)


@pytest.mark.parametrize("where", ["local", "dask"])
def test_a_review_opens_each_task_once_and_counts_them_per_owner(where, request, tmp_path, db_path):
    extra = ["--workers", "0"] if where == "local" else ["--scheduler", request.getfixturevalue("dask_cluster").address]
    source = book(tmp_path)
    first = _review(db_path, source, tmp_path / "out.jsonl", "--run-id", "april", *extra)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "follow-up tasks opened or updated, per owner: rm-1 2, queue branch:B-9 1, rm-2 1" in first.stdout
    opened = _tasks(db_path)
    assert opened == [("L-1", "contact_customer", "rm-1", None, "open"), ("L-2", "contact_customer", "rm-1", None, "open"),
                      ("L-3", "contact_customer", "rm-2", None, "open"),
                      ("L-5", "contact_customer", None, "branch:B-9", "open")]
    events = _events(db_path)
    again = _review(db_path, source, tmp_path / "out.jsonl", "--run-id", "april", "--restart", *extra)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "5 already there" in again.stdout and "follow-up tasks" not in again.stdout
    assert _tasks(db_path) == opened and _events(db_path) == events

    # twenty days later the next month's review reads the contacts that were missed
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    may = _review(db_path, source, tmp_path / "may.jsonl", "--run-id", "may", "--summary-json",
                  tmp_path / "may.json", *extra, env={"VIGIL_CLOCK": later})
    assert may.returncode == 0, may.stderr[-2000:]
    results = {r["customer_id"]: r for r in map(json.loads, (tmp_path / "may.jsonl").read_text().splitlines())}
    for customer in ("L-1", "L-2", "L-3", "L-5"):
        assert results[customer]["level"] == "orange", results[customer]
    assert results["L-4"]["level"] == "green"
    summary = json.loads((tmp_path / "may.json").read_text())
    assert summary["follow_ups"] == {"rm-1": 2, "rm-2": 1, "queue branch:B-9": 1}
    assert len(_tasks(db_path)) == 4  # asked again, not opened again
