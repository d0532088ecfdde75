"""What a decision that asks again for an open task writes: one update of the task, an
event only when it changes the task, and a count of the decisions that asked."""
from __future__ import annotations

from app import store
from app.store import tasks
from app.store.db import immediate


def ask(rules=("ACT-010",), level="orange", due="2026-04-06T00:00:00.000000Z", declared=("contact_customer",),
        action="contact_customer") -> tasks.FollowUps:
    requests = () if action is None else (tasks.FollowUpRequest(
        action=action, role="relationship_manager", level=level, due_at=due, rules=tuple(rules),
        evidence=("note",), owner="rm-1"),)
    return tasks.FollowUps("retail_card", requests, frozenset(declared))


def apply(db, decision_id: str, follow_ups: tasks.FollowUps, at="2026-04-01T00:00:00.000000Z") -> None:
    with immediate(db):
        tasks.apply(db, decision_id, "C-1", at, follow_ups)


def the_task(db) -> tuple[tasks.Task, list[tuple[str, str | None]]]:
    [task] = tasks.listing(db, customer_id="C-1")
    return task, [(e.kind, e.decision_id) for e in tasks.events(db, task.id)]


def test_asking_again_unchanged_counts_and_names_the_last_decision_without_an_event(log_db):
    apply(log_db, "d-1", ask())
    for n in range(2, 6):
        apply(log_db, f"d-{n}", ask(), at=f"2026-04-0{n}T00:00:00.000000Z")
    task, events = the_task(log_db)
    assert events == [("opened", "d-1")]
    assert (task.asked_count, task.decision_id, task.last_decision_id) == (5, "d-1", "d-5")
    assert task.updated_at == "2026-04-05T00:00:00.000000Z" and task.due_at == "2026-04-06T00:00:00.000000Z"
    assert tasks.decision_ids(task, tasks.events(log_db, task.id)) == ["d-1", "d-5"]


def test_new_rules_an_escalation_and_asking_after_no_longer_asked_are_events(log_db):
    apply(log_db, "d-1", ask())
    apply(log_db, "d-2", ask(rules=("ACT-011",)))
    task, events = the_task(log_db)
    assert events[-1] == ("asked_again", "d-2") and tasks.codec.loads(task.rules) == ["ACT-010", "ACT-011"]
    apply(log_db, "d-3", ask(level="red", due="2026-04-03T00:00:00.000000Z"))
    task, events = the_task(log_db)
    assert events[-1] == ("escalated", "d-3") and (task.level, task.due_at) == ("red", "2026-04-03T00:00:00.000000Z")
    apply(log_db, "d-4", ask(action=None))  # declared, not asked: no longer asked
    apply(log_db, "d-5", ask())
    task, events = the_task(log_db)
    assert events[-2:] == [("no_longer_asked", "d-4"), ("asked_again", "d-5")] and task.still_asked == 1
    # a later, lower level neither escalates nor changes the level
    assert (task.level, task.asked_count) == ("red", 4)
    assert tasks.decision_ids(task, tasks.events(log_db, task.id)) == ["d-1", "d-2", "d-3", "d-4", "d-5"]


def test_the_migration_counts_what_the_events_of_a_kept_task_name(tmp_path):
    from migrations import MIGRATIONS

    path = str(tmp_path / "old.db")
    db = store.create(path)
    db.enable_wal()
    MIGRATIONS.apply(db, stop_before="m016_task_asked_count")
    for task_id, asked in (("t-1", 3), ("t-2", 1)):
        db.execute("INSERT INTO tasks (id, customer_id, action, ruleset_id, role, status, still_asked, opened_at, "
                   "due_at, updated_at, decision_id, last_decision_id, rules, evidence_asked) VALUES "
                   "(?, ?, 'contact_customer', 'retail_card', 'rm', 'open', 1, 'a', 'b', 'c', 'd', 'd', '[]', '{}')",
                   [task_id, task_id])
        kinds = ["opened"] + ["asked_again"] * (asked - 1) + ["escalated", "handed_on"]
        for kind in kinds:
            db.execute("INSERT INTO task_events (task_id, at, kind, details) VALUES (?, 'a', ?, '{}')", [task_id, kind])
    db.conn.commit()
    store.migrate(db)
    assert dict(db.execute("SELECT id, asked_count FROM tasks ORDER BY id").fetchall()) == {"t-1": 3, "t-2": 1}
    db.close()
