"""Follow-up: the tasks people must do after a decision, and doing them.

A ruleset's action may declare a follow-up (app/engine/followup.py). When a decision
carrying such an action is logged, a task is opened for its customer, in the same
transaction as the decision (``decision_log.record`` calls ``app.store.tasks.apply``);
``for_decided`` and ``for_row`` work out what a decision asks for:

- the owner: the account manager the snapshot names (``customer.account_manager``), who
  sees the task with a key of that owner; else the queue of the branch it names
  (``branch:<customer.branch>``); else the default queue (VIGIL_DEFAULT_TASK_QUEUE);
- the due time: the days the declaration gives for the decision's level, counted from
  the decision's time on the calendar of app.core.clock (non-working days not counted).

A task's owner lists it, completes it with the evidence the declaration asks for,
hands it on, or asks for it to be waived; a waiver takes a reason and a second person
with the ``approve`` role. Every change is an audit event and a task event.

A decision whose ruleset reads ``overdue_follow_up(action)`` is given the customer's
follow-up facts (``facts_reader``) in its input, under ``$follow_up``, and they are
logged with it, so a replay reads what the decision read.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import sqlite_utils

from app.core import clock, codec
from app.core.errors import VigilError
from app.engine.condition import OverdueFollowUp
from app.engine.followup import FOLLOW_UP, split_facts  # noqa: F401 (split_facts: for callers)
from app.store import audit, tasks, times
from app.store.audit import Actor, person_id
from app.store.db import immediate
from app.store.errors import FourEyes, InvalidRequest, LogUnavailable, StoreError

DEFAULT_QUEUE = "default"
MAX_NOTE = 4000
MAX_REASON = 2000
MAX_NAME = 200
MAX_LIMIT = 500


class TaskNotFound(StoreError):
    reason = "task_not_found"
    message = "No follow-up task has this id (or it is not yours)."


class TaskClosed(StoreError):
    reason = "invalid_status"
    message = "The task is already done or waived."


class NotClaimed(StoreError):
    reason = "not_claimed"
    message = "The task waits in a queue: claim it first."


class TaskTaken(StoreError):
    reason = "task_taken"
    message = "Someone already owns the task; only a task waiting in a queue can be claimed."


class EvidenceInvalid(VigilError):
    reason = "validation_error"
    message = "The evidence does not match what the policy asks for."


# -- what a decision asks for ------------------------------------------------------------

@functools.lru_cache(maxsize=512)
def reads_follow_up(ruleset) -> bool:
    """Whether any rule of the ruleset reads ``overdue_follow_up(...)``."""
    return any(isinstance(node, OverdueFollowUp) for rule in ruleset.rules for node in rule.condition.walk())


@functools.lru_cache(maxsize=512)
def declared(ruleset) -> frozenset:
    """The actions of the ruleset that declare a follow-up."""
    return frozenset(name for name, spec in ruleset.actions.items() if spec.follow_up is not None)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_NAME]
    return None


def requests_for(ruleset, *, decided_at: dt.datetime, level: str | None, actions: Iterable[tuple[str, Iterable[str]]],
                 snapshot: Any, default_queue: str = DEFAULT_QUEUE) -> tasks.FollowUps | None:
    """What one decision asks of people. ``actions``: (action, rules behind it) of the
    decision's final actions. None when the ruleset declares no follow-up at all."""
    names = declared(ruleset)
    if not names:
        return None
    customer = snapshot.get("customer") if isinstance(snapshot, dict) else None
    customer = customer if isinstance(customer, dict) else {}
    manager, branch = _text(customer.get("account_manager")), _text(customer.get("branch"))
    queue = None if manager else (f"branch:{branch}" if branch else default_queue)
    requests = []
    for name, rules in actions:
        if name not in names:
            continue
        spec = ruleset.actions[name].follow_up
        due = clock.calendar().add_days(decided_at, spec.days_for(level))
        requests.append(tasks.FollowUpRequest(
            action=name, role=spec.role, level=level, due_at=times.iso(due), rules=tuple(rules),
            evidence=spec.evidence, outcomes=spec.outcomes, owner=manager, queue=queue, branch=branch))
    return tasks.FollowUps(ruleset.id, tuple(requests), names)


def for_decided(decided, default_queue: str = DEFAULT_QUEUE) -> tasks.FollowUps | None:
    """What a decision made by ``app.service.decide.decide`` asks of people."""
    evaluation = decided.evaluation
    return requests_for(decided.ruleset, decided_at=decided.at, level=evaluation.level,
                        actions=[(a.action, a.rules) for a in evaluation.actions], snapshot=decided.validated,
                        default_queue=default_queue)


def for_row(ruleset, row, default_queue: str = DEFAULT_QUEUE) -> tasks.FollowUps | None:
    """The same, from a decision's log row (a portfolio review's workers send rows).
    The account manager and branch are read from the logged snapshot: the contracts do
    not mark them personal, so they are logged as sent."""
    if not declared(ruleset):
        return None
    result = codec.loads(row.result)
    return requests_for(ruleset, decided_at=times.parse(row.decided_at), level=row.level,
                        actions=[(a["action"], a.get("rules", ())) for a in result.get("actions", ())],
                        snapshot=codec.loads(row.snapshot), default_queue=default_queue)


# -- follow-up facts for decisions -------------------------------------------------------------

FactsReader = Callable[[str, dt.datetime], dict]


def facts_reader(db: sqlite_utils.Database) -> FactsReader:
    """What a decision is told of a customer's follow-up, read from the tasks: the
    actions whose open task is past its due time at the decision's time."""

    def read(customer_id: str, at: dt.datetime) -> dict:
        return {"overdue": tasks.overdue_actions(db, customer_id, times.iso(at))}

    return read


def facts_from(overdue: dict[str, list[str]]) -> FactsReader:
    """The same from a mapping read once (a portfolio review reads it at its start)."""

    def read(customer_id: str, at: dt.datetime) -> dict:
        return {"overdue": list(overdue.get(customer_id, ()))}

    return read


def with_facts(ruleset, validated: dict, customer_id: str, at: dt.datetime, reader: FactsReader | None) -> dict:
    """The validated snapshot with the customer's follow-up facts under ``$follow_up``
    when the ruleset reads them (and so logged with the decision); else as it is."""
    if reader is None or not reads_follow_up(ruleset):
        return validated
    return {**validated, FOLLOW_UP: reader(customer_id, at)}


# -- reading tasks -----------------------------------------------------------------------------

def _now() -> str:
    return times.iso(clock.now())


def task_dict(task: tasks.Task, now: str | None = None) -> dict:
    now = now or _now()
    asked = task.asked()
    return {
        "id": task.id, "customer_id": task.customer_id, "action": task.action, "ruleset_id": task.ruleset_id,
        "role": task.role, "level": task.level, "owner": task.owner, "queue": task.queue, "branch": task.branch,
        "status": task.status, "waiver_requested": task.waiver_requested_by is not None and task.status == "open",
        "opened_at": task.opened_at, "due_at": task.due_at, "overdue": task.overdue(now),
        "still_asked": bool(task.still_asked), "decision_id": task.decision_id,
        "last_decision_id": task.last_decision_id, "asked_count": task.asked_count,
        "rules": json.loads(task.rules),
        "evidence_asked": asked["evidence"], "outcomes": asked["outcomes"],
        "evidence": json.loads(task.evidence) if task.evidence else None,
        "done_at": task.done_at, "done_by": task.done_by,
        "waiver": ({"requested_by": task.waiver_requested_by, "requested_at": task.waiver_requested_at,
                    "reason": task.waiver_reason, "approved_by": task.waived_by}
                   if task.waiver_requested_by else None),
    }


def _cursor(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    due, sep, task_id = text.partition("|")
    try:
        times.parse(due)
    except ValueError:
        sep = ""
    if not sep or not task_id or len(text) > 200:
        raise InvalidRequest("The cursor is not one this listing gave out.",
                             [{"path": "cursor", "message": "Pass next_cursor from the page before."}])
    return due, task_id


def list_tasks(db: sqlite_utils.Database, *, owner: str | None = None, queue: str | None = None,
               status: str | None = None, customer_id: str | None = None, overdue: bool | None = None,
               cursor: str | None = None, limit: int = 50, queues: Iterable[str] = ()) -> dict:
    """Tasks by due time, earliest first: {"tasks": [...], "next_cursor": ...}. With
    ``owner``, ``queues`` adds the unowned tasks waiting in those queues."""
    if status is not None and status not in tasks.STATUSES:
        raise InvalidRequest(f"status is one of {', '.join(tasks.STATUSES)}.",
                             [{"path": "status", "message": f"Must be one of {', '.join(tasks.STATUSES)}."}])
    limit = max(1, min(int(limit), MAX_LIMIT))
    now = _now()
    found = tasks.listing(db, owner=owner, queue=queue, status=status, customer_id=customer_id,
                          overdue_at=now if overdue else None, after=_cursor(cursor), limit=limit + 1,
                          queues=tuple(queues or ()))
    page = found[:limit]
    next_cursor = f"{page[-1].due_at}|{page[-1].id}" if len(found) > limit else None
    return {"tasks": [task_dict(t, now) for t in page], "next_cursor": next_cursor}


def get_task(db: sqlite_utils.Database, task_id: str) -> dict:
    """One task with the decisions behind it and its events. Raises TaskNotFound."""
    task = tasks.get(db, task_id)
    if task is None:
        raise TaskNotFound()
    out = task_dict(task)
    trail = tasks.events(db, task_id)
    out["decision_ids"] = tasks.decision_ids(task, trail)
    out["events"] = [e.to_dict() for e in trail]
    return out


SEE_ALL = frozenset({"approve", "audit", "admin"})
WORK_ANY = frozenset({"approve", "admin"})


def sees_all(roles: Iterable[str]) -> bool:
    """Whether these roles see every task (else: one's own, and one's queues')."""
    return bool(SEE_ALL & set(roles))


def may_see(task: dict, actor: Actor, roles: Iterable[str], queues: Iterable[str] = ()) -> bool:
    """A task is its owner's; the approve, audit and admin roles see every task; an
    officer sees the tasks they own (by person, as four eyes compares people) and those no
    one owns waiting in the ``queues`` their key works."""
    if sees_all(roles):
        return True
    if task["owner"] is None:
        return task.get("queue") is not None and task["queue"] in set(queues or ())
    return person_id(task["owner"]) == person_id(actor.person)


def may_work(task: dict, actor: Actor, roles: Iterable[str]) -> bool:
    """Whether the actor may complete, hand on or ask to waive the task: approve (and
    admin) any task; an officer only one they own (a task in a queue is claimed first)."""
    return bool(WORK_ANY & set(roles)) or (task["owner"] is not None
                                           and person_id(task["owner"]) == person_id(actor.person))


def _working(task: tasks.Task, actor: Actor, roles: Iterable[str]) -> None:
    """Checked in the transaction that changes the task: NotClaimed for an officer's
    queue task, TaskNotFound for another's."""
    if may_work({"owner": task.owner}, actor, roles):
        return
    if task.owner is None:
        raise NotClaimed(f"The task waits in the queue {task.queue}: claim it first; nothing was changed.")
    raise TaskNotFound()


# -- doing the work ------------------------------------------------------------------------------

def _open_task(db, task_id: str) -> tasks.Task:
    task = tasks.get(db, task_id)
    if task is None:
        raise TaskNotFound()
    if task.status != "open":
        raise TaskClosed(f"The task is already {task.status}; nothing was changed.")
    return task


def check_evidence(task: tasks.Task, evidence: Any, today: dt.date) -> dict:
    """The evidence, checked against what the task's declaration asks for. Raises
    EvidenceInvalid naming each bad field."""
    asked = task.asked()
    problems = []
    if not isinstance(evidence, dict):
        raise EvidenceInvalid(details=[{"path": "evidence", "message": "Must be an object."}])
    out: dict = {}
    for key in evidence:
        if key not in asked["evidence"]:
            problems.append({"path": f"evidence.{key}", "message":
                             f"Not asked for by this task; it asks for {', '.join(asked['evidence'])}."})
    for key in asked["evidence"]:
        value = evidence.get(key)
        where = f"evidence.{key}"
        if value is None or value == "":
            problems.append({"path": where, "message": "Required by the policy for this task."})
        elif key == "note":
            if not isinstance(value, str) or not value.strip():
                problems.append({"path": where, "message": "Must be text saying what was done."})
            elif len(value) > MAX_NOTE:
                problems.append({"path": where, "message": f"Longer than {MAX_NOTE} characters."})
            else:
                out[key] = value.strip()
        elif key == "contact_date":
            try:
                day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
            except ValueError:
                day = None
            if day is None:
                problems.append({"path": where, "message": "Must be a date, YYYY-MM-DD."})
            elif day > today:
                problems.append({"path": where, "message": f"{value} is in the future (today is {today})."})
            elif day.isoformat() < task.opened_at[:10]:
                problems.append({"path": where, "message":
                                 f"{value} is before the task was opened ({task.opened_at[:10]})."})
            else:
                out[key] = day.isoformat()
        elif key == "outcome":
            if value not in asked["outcomes"]:
                problems.append({"path": where, "message": f"Must be one of {', '.join(asked['outcomes'])}."})
            else:
                out[key] = value
    if problems:
        raise EvidenceInvalid(details=problems)
    return out


def _reason(reason: Any, path: str = "reason") -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest("Give a reason.", [{"path": path, "message": "Must not be empty."}])
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"The reason is longer than {MAX_REASON} characters.",
                             [{"path": path, "message": f"Longer than {MAX_REASON} characters."}])
    return reason.strip()


@contextlib.contextmanager
def _writing(db):
    """One write transaction; a database failure is LogUnavailable and changes nothing."""
    try:
        with immediate(db):
            yield db
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def complete(db: sqlite_utils.Database, task_id: str, actor: Actor, evidence: Any, roles: Iterable[str] = ()) -> dict:
    """Record the task as done with the evidence its declaration asks for. ``roles``: the
    actor's (see may_work)."""
    now = clock.now()
    at = times.iso(now)
    with _writing(db):
        task = _open_task(db, task_id)
        _working(task, actor, roles)
        clean = check_evidence(task, evidence, now.date())
        on_time = at <= task.due_at
        tasks.update(db, task_id, at, "done", actor.person,
                     {"status": "done", "evidence": codec.canonical(clean), "done_at": at, "done_by": actor.person},
                     {"evidence": clean, "on_time": on_time})
        audit.record_event(db, actor, "task.complete", f"task:{task_id}",
                           {"customer_id": task.customer_id, "action": task.action, "on_time": on_time})
    return get_task(db, task_id)


def hand_on(db: sqlite_utils.Database, task_id: str, actor: Actor, to: dict, reason: Any,
            roles: Iterable[str] = ()) -> dict:
    """Give the task to another owner (``{"owner": name}``) or queue (``{"queue": name}``).
    ``roles``: the actor's (see may_work)."""
    reason = _reason(reason)
    owner, queue = _text((to or {}).get("owner")), _text((to or {}).get("queue"))
    if (owner is None) == (queue is None):
        raise InvalidRequest("Hand the task on to one owner or one queue.",
                             [{"path": "to", "message": "Give exactly one of owner, queue."}])
    at = _now()
    with _writing(db):
        task = _open_task(db, task_id)
        _working(task, actor, roles)
        tasks.update(db, task_id, at, "handed_on", actor.person,
                     {"owner": owner, "owner_id": person_id(owner) if owner else None, "queue": queue},
                     {"from": {"owner": task.owner, "queue": task.queue}, "to": {"owner": owner, "queue": queue},
                      "reason": reason})
        audit.record_event(db, actor, "task.hand_on", f"task:{task_id}",
                           {"from": {"owner": task.owner, "queue": task.queue},
                            "to": {"owner": owner, "queue": queue}, "reason": reason})
    return get_task(db, task_id)


def claim(db: sqlite_utils.Database, task_id: str, actor: Actor, roles: Iterable[str] = (),
          queues: Iterable[str] = ()) -> dict:
    """Take a task no one owns from its queue: it becomes the actor's. ``roles`` and
    ``queues``: the actor's; approve (and admin) claim from any queue, an officer from the
    queues their key works. Checked in the transaction that writes it, so of two people
    claiming the same task one gets it and the other is told who did (TaskTaken)."""
    at = _now()
    with _writing(db):
        task = _open_task(db, task_id)
        if task.owner is not None:
            raise TaskTaken(f"{task.owner} owns the task already; nothing was changed.")
        if not WORK_ANY & set(roles) and task.queue not in set(queues):
            raise TaskNotFound()
        tasks.update(db, task_id, at, "claimed", actor.person,
                     {"owner": actor.person, "owner_id": person_id(actor.person), "queue": None},
                     {"from_queue": task.queue})
        audit.record_event(db, actor, "task.claim", f"task:{task_id}",
                           {"customer_id": task.customer_id, "action": task.action, "from_queue": task.queue})
    return get_task(db, task_id)


def request_waiver(db: sqlite_utils.Database, task_id: str, actor: Actor, reason: Any,
                   roles: Iterable[str] = ()) -> dict:
    """Ask for the task to be waived: it stays open until a second person approves.
    ``roles``: the actor's (see may_work)."""
    reason = _reason(reason)
    at = _now()
    with _writing(db):
        task = _open_task(db, task_id)
        _working(task, actor, roles)
        if task.waiver_requested_by is not None:
            raise TaskClosed(f"A waiver was already asked for by {task.waiver_requested_by}; "
                             "it waits for a second person to approve it.")
        tasks.update(db, task_id, at, "waiver_requested", actor.person,
                     {"waiver_requested_by": actor.person, "waiver_requested_at": at, "waiver_reason": reason},
                     {"reason": reason})
        audit.record_event(db, actor, "task.waiver_request", f"task:{task_id}", {"reason": reason})
    return get_task(db, task_id)


def approve_waiver(db: sqlite_utils.Database, task_id: str, actor: Actor) -> dict:
    """Waive the task, as asked: by a person other than the one who asked (and not with a
    key that person made)."""
    task = _open_task(db, task_id)
    if task.waiver_requested_by is not None and _same_person(actor, task.waiver_requested_by):
        audit.record_event(db, actor, "task.waive_refused", f"task:{task_id}", {"reason": "four_eyes"})
        raise FourEyes("A waiver must be approved by someone other than the person who asked for it.")
    at = _now()
    with _writing(db):
        task = _open_task(db, task_id)
        if task.waiver_requested_by is None:
            raise TaskClosed("No waiver was asked for this task; ask for one with a reason first.")
        if _same_person(actor, task.waiver_requested_by):
            raise FourEyes("A waiver must be approved by someone other than the person who asked for it.")
        tasks.update(db, task_id, at, "waived", actor.person,
                     {"status": "waived", "waived_by": actor.person, "done_at": at, "done_by": actor.person},
                     {"reason": task.waiver_reason, "requested_by": task.waiver_requested_by})
        audit.record_event(db, actor, "task.waive", f"task:{task_id}",
                           {"reason": task.waiver_reason, "requested_by": task.waiver_requested_by})
    return get_task(db, task_id)


def _same_person(actor: Actor, name: str) -> bool:
    who = person_id(name)
    return person_id(actor.person) == who or bool(actor.key_created_by and person_id(actor.key_created_by) == who)
