"""Follow-up tasks: what a person must do after a decision, and what they did.

Tasks are opened by the decision log itself: ``decision_log.record`` calls ``apply`` for
each decision it inserts, inside its transaction, so a decision is never logged without
its tasks and a retried decision (one already logged) opens nothing. Which tasks a
decision asks for (action, owner, due time) is worked out by the service layer
(app/service/followup.py) and handed down as ``FollowUps``; the store only keeps them.

At most one task is open per customer and action (the ``tasks_one_open`` index): a
later decision that asks for it again becomes its ``last_decision_id`` and is counted in
``asked_count``, an escalation (an earlier due time) moves its due time, and a decision
of the same ruleset that no longer asks for it marks it ``still_asked = 0``. Each change
is a row of ``task_events`` (``opened``, ``asked_again`` when a decision adds rules or
asks for it after it was no longer asked, ``escalated``, ``no_longer_asked`` and what
people do); a decision that asks again and changes nothing adds no event, so a task's
history grows with what happens to it, not with how often its customer is decided on.
Every decision that asked for it stays in the decision log, found by its customer and
action from the task's opening.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field

import sqlite_utils

from app.core import codec
from app.store.audit import person_id
from app.store.errors import LogUnavailable

STATUSES = ("open", "done", "waived")


@dataclass(frozen=True)
class FollowUpRequest:
    """One follow-up a decision asks for."""

    action: str
    role: str
    level: str | None
    due_at: str                      # store timestamp
    rules: tuple[str, ...]
    evidence: tuple[str, ...]        # what closes it: note, contact_date, outcome
    outcomes: tuple[str, ...] = ()
    owner: str | None = None         # the account manager named in the snapshot
    queue: str | None = None         # else the branch's queue, else the default queue
    branch: str | None = None


@dataclass(frozen=True)
class FollowUps:
    """What one decision asks of people: ``requests``, and ``declared``, the actions its
    ruleset declares a follow-up for (an open task for one of those that this decision
    does not ask for is no longer asked)."""

    ruleset_id: str
    requests: tuple[FollowUpRequest, ...] = ()
    declared: frozenset = field(default_factory=frozenset)


@dataclass(frozen=True)
class Task:
    id: str
    customer_id: str
    action: str
    ruleset_id: str
    role: str
    level: str | None
    owner: str | None
    owner_id: str | None
    queue: str | None
    branch: str | None
    status: str
    still_asked: int
    opened_at: str
    due_at: str
    updated_at: str
    decision_id: str
    last_decision_id: str
    rules: str
    evidence_asked: str
    evidence: str | None
    done_at: str | None
    done_by: str | None
    waiver_requested_by: str | None
    waiver_requested_at: str | None
    waiver_reason: str | None
    waived_by: str | None
    # How many decisions asked for it, the one that opened it included.
    asked_count: int = 1

    def overdue(self, now: str) -> bool:
        """Past its due time and still open, at store time ``now``."""
        return self.status == "open" and self.due_at < now

    def asked(self) -> dict:
        """What closes it: {"evidence": [...], "outcomes": [...]}."""
        return json.loads(self.evidence_asked)


@dataclass(frozen=True)
class TaskEvent:
    seq: int
    task_id: str
    at: str
    kind: str
    actor: str | None
    decision_id: str | None
    details: str

    def to_dict(self) -> dict:
        return {"seq": self.seq, "at": self.at, "kind": self.kind, "actor": self.actor,
                "decision_id": self.decision_id, "details": json.loads(self.details)}


_COLUMNS = tuple(Task.__dataclass_fields__)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM tasks"
_EVENT_COLUMNS = tuple(TaskEvent.__dataclass_fields__)
# A customer's open tasks, through the index that keeps one open per customer and action
# (left to itself the planner may take the index by due time, and read every open task).
_OPEN_OF_CUSTOMER = (f"SELECT {', '.join(_COLUMNS)} FROM tasks INDEXED BY tasks_one_open "
                     "WHERE customer_id = ? AND status = 'open'")


def _task(row) -> Task:
    return Task(**dict(zip(_COLUMNS, row)))


def _event(db, task_id: str, at: str, kind: str, *, actor: str | None = None, decision_id: str | None = None,
           details: dict | None = None) -> None:
    db.execute("INSERT INTO task_events (task_id, at, kind, actor, decision_id, details) VALUES (?, ?, ?, ?, ?, ?)",
               [task_id, at, kind, actor, decision_id, codec.canonical(details or {})])


def apply(db: sqlite_utils.Database, decision_id: str, customer_id: str, decided_at: str,
          follow_ups: FollowUps) -> None:
    """Open or update the tasks one decision asks for. Called by decision_log.record
    inside its transaction, once per decision inserted (never for a retry)."""
    if not follow_ups.requests and not follow_ups.declared:
        return
    open_tasks = {t.action: t for t in map(_task, db.execute(_OPEN_OF_CUSTOMER, [customer_id]))}
    asked = set()
    for request in follow_ups.requests:
        asked.add(request.action)
        task = open_tasks.get(request.action)
        if task is None:
            _open(db, decision_id, customer_id, decided_at, follow_ups.ruleset_id, request)
        else:
            _ask_again(db, task, decision_id, decided_at, request)
    for action, task in open_tasks.items():
        if (action not in asked and action in follow_ups.declared and task.ruleset_id == follow_ups.ruleset_id
                and task.still_asked):
            db.execute("UPDATE tasks SET still_asked = 0, updated_at = ?, last_decision_id = ? WHERE id = ?",
                       [decided_at, decision_id, task.id])
            _event(db, task.id, decided_at, "no_longer_asked", decision_id=decision_id)


def _open(db, decision_id: str, customer_id: str, decided_at: str, ruleset_id: str,
          request: FollowUpRequest) -> None:
    task_id = str(uuid.uuid4())
    asked = {"evidence": list(request.evidence), "outcomes": list(request.outcomes)}
    db.execute(
        "INSERT INTO tasks (id, customer_id, action, ruleset_id, role, level, owner, owner_id, queue, branch, "
        "status, still_asked, opened_at, due_at, updated_at, decision_id, last_decision_id, rules, evidence_asked) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?, ?, ?, ?, ?, ?)",
        [task_id, customer_id, request.action, ruleset_id, request.role, request.level, request.owner,
         person_id(request.owner) if request.owner else None, request.queue, request.branch, decided_at,
         request.due_at, decided_at, decision_id, decision_id, codec.canonical(list(request.rules)),
         codec.canonical(asked)])
    _event(db, task_id, decided_at, "opened", decision_id=decision_id,
           details={"level": request.level, "due_at": request.due_at, "owner": request.owner,
                    "queue": request.queue, "rules": list(request.rules)})


_ASK_AGAIN = ("UPDATE tasks SET still_asked = 1, updated_at = ?, last_decision_id = ?, rules = ?, "
              "asked_count = asked_count + 1{} WHERE id = ?")
_ASKED = _ASK_AGAIN.format("")
_ASKED_ESCALATED = _ASK_AGAIN.format(", due_at = ?, level = ?")


def _ask_again(db, task: Task, decision_id: str, decided_at: str, request: FollowUpRequest) -> None:
    """One statement for the task; an event only for what changed it."""
    had = json.loads(task.rules)
    rules = list(dict.fromkeys([*had, *request.rules]))
    new_rules = len(rules) != len(had)
    escalated = request.due_at < task.due_at
    # due_at and level only when they change: a column an index holds, set even to the
    # same value, rewrites that index's entry (five indexes hold them).
    db.execute(_ASKED_ESCALATED if escalated else _ASKED,
               [decided_at, decision_id, codec.canonical(rules) if new_rules else task.rules,
                *((request.due_at, request.level) if escalated else ()), task.id])
    if new_rules or not task.still_asked:
        _event(db, task.id, decided_at, "asked_again", decision_id=decision_id,
               details={"level": request.level, "rules": list(request.rules)})
    if escalated:
        _event(db, task.id, decided_at, "escalated", decision_id=decision_id,
               details={"from_level": task.level, "to_level": request.level,
                        "from_due_at": task.due_at, "to_due_at": request.due_at})


# -- reading -------------------------------------------------------------------------------

def get(db: sqlite_utils.Database, task_id: str) -> Task | None:
    try:
        row = db.execute(f"{_SELECT} WHERE id = ?", [task_id]).fetchone()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return _task(row) if row else None


def events(db: sqlite_utils.Database, task_id: str) -> list[TaskEvent]:
    try:
        rows = db.execute(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM task_events WHERE task_id = ? ORDER BY seq",
                          [task_id]).fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return [TaskEvent(**dict(zip(_EVENT_COLUMNS, r))) for r in rows]


def listing(db: sqlite_utils.Database, *, owner: str | None = None, queue: str | None = None,
            status: str | None = None, customer_id: str | None = None, overdue_at: str | None = None,
            after: tuple[str, str] | None = None, limit: int = 50, queues: tuple[str, ...] = ()) -> list[Task]:
    """Tasks by due time (then id), filtered; ``after``: (due_at, id) of the last task of the
    page before; ``overdue_at``: only open tasks due before this store time. With ``owner``,
    ``queues`` adds the tasks no one owns that wait in those queues (an officer's list)."""
    equal = {"queue": queue, "status": status, "customer_id": customer_id}
    where = [f"{column} = ?" for column, value in equal.items() if value is not None]
    params = [value for value in equal.values() if value is not None]
    if owner is not None:
        waiting = f" OR (owner_id IS NULL AND queue IN ({', '.join('?' * len(queues))}))" if queues else ""
        where.append(f"(owner_id = ?{waiting})")
        params.extend([person_id(owner), *queues])
    if overdue_at is not None:
        where.append("status = 'open' AND due_at < ?")
        params.append(overdue_at)
    if after is not None:
        where.append("(due_at > ? OR (due_at = ? AND id > ?))")
        params.extend([after[0], after[0], after[1]])
    # By customer, through that index: the planner, without statistics, could take the
    # index by status and due time and read every open task.
    table = "tasks INDEXED BY tasks_by_customer" if customer_id is not None else "tasks"
    sql = (f"SELECT {', '.join(_COLUMNS)} FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY due_at, id LIMIT ?")
    try:
        return [_task(r) for r in db.execute(sql, [*params, int(limit)])]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def overdue_actions(db: sqlite_utils.Database, customer_id: str, now: str) -> list[str]:
    """The actions the customer has an open task for that is past its due time."""
    try:
        return [r[0] for r in db.execute(
            "SELECT action FROM tasks INDEXED BY tasks_one_open WHERE customer_id = ? AND status = 'open' "
            "AND due_at < ? ORDER BY action", [customer_id, now])]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def overdue_by_customer(db: sqlite_utils.Database, now: str) -> dict[str, list[str]]:
    """customer id -> the actions overdue for them (for a portfolio review's start)."""
    out: dict[str, list[str]] = {}
    try:
        for customer_id, action in db.execute(
                "SELECT customer_id, action FROM tasks WHERE status = 'open' AND due_at < ? ORDER BY action", [now]):
            out.setdefault(customer_id, []).append(action)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return out


# -- changes by people ------------------------------------------------------------------------
# Each runs inside the caller's transaction (the service opens it and records the audit
# event in it too).

def update(db: sqlite_utils.Database, task_id: str, at: str, kind: str, actor: str, changes: dict,
           details: dict | None = None) -> None:
    """Change a task's columns and record the event."""
    sets = ", ".join(f"{k} = ?" for k in changes)
    db.execute(f"UPDATE tasks SET {sets}, updated_at = ? WHERE id = ?", [*changes.values(), at, task_id])
    _event(db, task_id, at, kind, actor=actor, details=details)


def decision_ids(task: Task, trail: list[TaskEvent]) -> list[str]:
    """The decisions behind a task, in order: those its events name (the one that opened
    it and each that changed it) and the last that asked for it."""
    return list(dict.fromkeys([*(e.decision_id for e in trail if e.decision_id), task.last_decision_id]))
