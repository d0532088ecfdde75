"""A small book of follow-up tasks, opened and closed the way decisions and people do it,
for the evaluation report's tests; and the service's clock, set per test."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from app.core import clock
from app.store import tasks

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def at(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def now():
    """Set the service's clock; real time again after the test."""
    def set_to(moment: dt.datetime) -> None:
        clock.configure(fixed=moment)
    yield set_to
    clock.configure()


def open_task(db, customer: str, *, owner: str | None, branch: str | None, level: str, opened: dt.datetime,
              days: int, action: str = "contact_customer") -> str:
    """A task opened the way a logged decision opens it."""
    request = tasks.FollowUpRequest(action=action, role="relationship_manager", level=level,
                                    due_at=at(opened + days * DAY), rules=("ACT-010",), evidence=("note",),
                                    owner=owner, queue=None if owner else f"branch:{branch}", branch=branch)
    with db.conn:
        tasks.apply(db, f"d-{customer}-{action}", customer, at(opened),
                    tasks.FollowUps(ruleset_id="retail_card", requests=(request,), declared=frozenset({action})))
    [task] = tasks.listing(db, customer_id=customer, status="open")
    return task.id


def finish(db, task_id: str, when: dt.datetime) -> None:
    with db.conn:
        tasks.update(db, task_id, at(when), "done", "someone", {"status": "done", "done_at": at(when),
                                                                 "done_by": "someone",
                                                                 "evidence": json.dumps({"note": "called"})})


def waive(db, task_id: str, when: dt.datetime) -> None:
    with db.conn:
        tasks.update(db, task_id, at(when), "waived", "approver", {"status": "waived", "waived_by": "approver"})


@pytest.fixture
def book(log_db):
    """Ann (branch B1): a red task done in 1 day (on time), a red one done in 3.5 days
    (late: due in 2), a yellow one waived. Bob (B1): a red one overdue, one done in 6 h.
    Nobody (B2's queue): a red one not due yet. One task of Ann's opened before the period."""
    db = log_db
    a1 = open_task(db, "C-1", owner="Ann", branch="B1", level="red", opened=T0, days=2)
    finish(db, a1, T0 + DAY)
    a2 = open_task(db, "C-2", owner="ann ", branch="B1", level="red", opened=T0, days=2)
    finish(db, a2, T0 + 3.5 * DAY)
    a3 = open_task(db, "C-3", owner="Ann", branch="B1", level="yellow", opened=T0 + DAY, days=15)
    waive(db, a3, T0 + 2 * DAY)
    open_task(db, "C-4", owner="Bob", branch="B1", level="red", opened=T0, days=2)
    b2 = open_task(db, "C-5", owner="Bob", branch="B1", level="red", opened=T0, days=2)
    finish(db, b2, T0 + dt.timedelta(hours=6))
    open_task(db, "C-6", owner=None, branch="B2", level="red", opened=T0 + 5 * DAY, days=30)
    open_task(db, "C-7", owner="Ann", branch="B1", level="red", opened=T0 - 40 * DAY, days=2)
    return db
