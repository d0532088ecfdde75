"""The console's follow-up pages: My tasks, a task (its decision, trail, history and
evidence) with the forms to complete it, hand it on and waive it (four eyes), and the
evaluation report with its chart and downloads.

Each page calls the functions the API's views call (app/service/followup.py,
app/service/followup_report.py), takes the roles of the API endpoint that does the same
thing (``access.py``) and records the same audit event; the service refuses what the
page would not offer (another's task, one's own waiver) whatever the form sent.
"""

from __future__ import annotations

import json

from flask import current_app, g, redirect, render_template, request, url_for

from app.api.errors import status_of
from app.api.followup_report import FollowUpReportExportQuerySchema, FollowUpReportQuerySchema, export_response
from app.console import access, bp
from app.console.compliance import _given, _load, _with_zone
from app.service import followup, followup_report
from app.store.audit import person_id, record_event
from app.store.errors import FourEyes, InvalidRequest

REPORT_PAGE = 50
# The chart's segments, left to right: what became of the tasks opened.
SEGMENTS = (("done_on_time", "done on time"), ("done_late", "done late"), ("waived", "waived"),
            ("overdue_now", "overdue now"), ("open", "open, not due"))


def _db():
    from app.api.database import get_db

    return get_db()


def _require(action: str) -> None:
    access.require(action, g.api_key.roles)


def report_chart(groups, label_of) -> dict:
    """A stacked bar per group: what became of the tasks opened, on one scale."""
    label_w, bar_h, gap, top, right = 170, 22, 10, 8, 60
    width = 760
    plot_w = width - label_w - right
    most = max([g.total.opened for g in groups] + [1])
    bars = []
    for i, group in enumerate(groups):
        y = top + i * (bar_h + gap)
        x = label_w
        segments = []
        for name, label in SEGMENTS:
            value = getattr(group.total, name)
            w = plot_w * value / most
            if value:
                segments.append({"name": name, "label": label, "value": value, "x": round(x, 1), "w": round(w, 1)})
            x += w
        bars.append({"label": label_of(group.key), "y": y, "text_y": y + bar_h / 2 + 4, "segments": segments,
                     "opened": group.total.opened, "end": round(x + 6, 1)})
    height = top + len(groups) * (bar_h + gap) + 4
    return {"width": width, "height": max(height, 30), "bar_h": bar_h, "label_w": label_w, "bars": bars,
            "segments": SEGMENTS}


def _key_label(by: str):
    none = "no owner (a queue)" if by == "owner" else "no branch"
    return lambda key: key if key else none


@bp.route("/follow-up/report")
def follow_up_report():
    _require("evaluate")
    given = _given(("from", "to", "by", "cursor"))
    query, error = _load(FollowUpReportQuerySchema(), {**_with_zone(given), "limit": REPORT_PAGE})
    result = None
    if query is not None:
        db = _db()
        try:
            result = followup_report.report(db, query["by"], query.get("from_"), query.get("to"),
                                            limit=REPORT_PAGE, cursor=query.get("cursor"))
        except InvalidRequest as exc:
            error = {"message": exc.message, "details": exc.details}
        else:
            record_event(db, g.actor, "follow_up.report", "follow-up",
                         {"by": result.by, "from": result.since, "to": result.until, "groups": len(result.groups)})
    by = (query or {}).get("by") or given.get("by") or "owner"
    label = _key_label(by)
    period = {"from": result.since, "to": result.until} if result else {}
    return render_template("console/followup/report.html", nav="evaluation", given=given, result=result,
                           error=error, by=by, label=label, segments=SEGMENTS,
                           chart=report_chart(result.groups, label) if result and result.groups else None,
                           export_args={"by": by, **period},
                           next_args={"by": by, **period, "cursor": result.next_cursor}
                           if result and result.next_cursor else None), 422 if error else 200


@bp.route("/follow-up/report/export")
def follow_up_report_export():
    _require("evaluate")
    query, error = _load(FollowUpReportExportQuerySchema(), _with_zone(_given(("from", "to", "by", "format"))))
    if error:
        return render_template("console/error.html", title="Export refused",
                               message="; ".join(f"{d['path']}: {d['message']}" for d in error["details"])), 422
    db = _db()
    exported = followup_report.export(db, query["by"], query.get("from_"), query.get("to"), query["format"])
    record_event(db, g.actor, "follow_up.report_export", "follow-up",
                 {"by": query["by"], "from": exported.since, "to": exported.until, "format": exported.format})
    return export_response(exported)


# ---------------------------------------------------------------- tasks

TASK_DONE = {
    "completed": "Done: the task is closed with its evidence.",
    "handed_on": "Handed on.",
    "claimed": "Claimed: the task is yours now.",
    "waiver_requested": "Waiver requested: another person with the approve role must approve it.",
    "waived": "Waived.",
}
TASKS_PAGE = 100
EVIDENCE_LABELS = {"note": "What was done", "contact_date": "Date of contact", "outcome": "Outcome"}


def _error(exc) -> dict:
    return {"message": exc.message, "details": list(getattr(exc, "details", None) or [])}


@bp.route("/tasks")
def tasks():
    """My tasks: the signed-in person's open tasks and those no one owns waiting in the
    queues their key works, soonest due first, overdue marked. Compliance, approvers and
    admins may look at anyone's, by owner, queue, customer and status; approvers also see the
    waivers waiting for a second person."""
    _require("tasks")
    db = _db()
    roles = g.api_key.roles
    see_all = followup.sees_all(roles)
    given = _given(("owner", "queue", "customer_id", "status", "cursor")) if see_all else _given(("cursor",))
    owner = given.get("owner") if see_all else g.actor.person
    if see_all and not any(given.get(k) for k in ("owner", "queue", "customer_id")) and "status" not in given:
        owner = g.actor.person  # a first look: your own tasks
    status = given.get("status", "open")
    mine = owner is not None and person_id(owner) == person_id(g.actor.person)
    error, page = None, {"tasks": [], "next_cursor": None}
    try:
        page = followup.list_tasks(db, owner=owner, queue=given.get("queue"), customer_id=given.get("customer_id"),
                                   status=status, cursor=given.get("cursor"), limit=TASKS_PAGE,
                                   queues=g.api_key.queues if mine else ())
    except InvalidRequest as exc:
        error = _error(exc)
    waivers = None
    if access.may("approve_waiver", roles):
        waiting = followup.list_tasks(db, status="open", limit=TASKS_PAGE)["tasks"]
        waivers = [t for t in waiting if t["waiver_requested"]]
    filters = {k: v for k, v in given.items() if k != "cursor"}
    return render_template(
        "console/followup/tasks.html", nav="tasks", tasks=page["tasks"], waivers=waivers, error=error,
        heading="My tasks" if mine else "Tasks", show_filter=see_all, given={**given, "owner": owner or ""},
        lead=_lead(mine),
        statuses=("open", "done", "waived"), status=status,
        next_args={**filters, "cursor": page["next_cursor"]} if page["next_cursor"] else None,
        done=TASK_DONE.get(request.args.get("done"))), 422 if error else 200


def _lead(mine: bool) -> str:
    if not mine:
        return "Follow-up tasks, soonest due first; overdue ones are marked."
    queues = g.api_key.queues
    waiting = f" and those waiting in your queues ({', '.join(queues)}) for someone to claim" if queues else ""
    return f"The follow-up tasks assigned to you{waiting}, soonest due first; overdue ones are marked."


def _evidence_fields(task: dict) -> list[dict]:
    """The completion form's fields: the evidence the policy asks for."""
    return [{"name": name, "label": EVIDENCE_LABELS.get(name, name.replace("_", " ").capitalize()),
             "kind": "date" if name == "contact_date" else "choice" if name == "outcome" else "text",
             "choices": task["outcomes"] if name == "outcome" else None}
            for name in task["evidence_asked"]]


def _visible_task(db, task_id: str) -> dict:
    task = followup.get_task(db, task_id)
    if not followup.may_see(task, g.actor, g.api_key.roles, g.api_key.queues):
        raise followup.TaskNotFound()
    return task


def _task_page(task_id: str, *, error=None, form=None, status=200):
    db = _db()
    task = _visible_task(db, task_id)
    roles = g.api_key.roles
    decision = _decision_of(db, task["last_decision_id"])
    if decision is not None:
        # what the decision said is shown: a read of the log, recorded as the compliance pages record it
        record_event(db, g.actor, "decision.read", f"decision:{decision['decision_id']}",
                     {"customer_id": task["customer_id"], "task_id": task_id})
    asked = (task["waiver"] or {}).get("requested_by")
    return render_template(
        "console/followup/task.html", nav="tasks", task=task, decision=decision, error=error, form=form or {},
        title=task["action"].replace("_", " ").capitalize(), evidence_fields=_evidence_fields(task),
        may_work=access.may("task_work", roles) and followup.may_work(task, g.actor, roles),
        may_claim=access.may("task_claim", roles) and task["owner"] is None,
        default_queue=current_app.config["VIGIL_DEFAULT_TASK_QUEUE"],
        may_approve=(access.may("approve_waiver", roles) and asked is not None
                     and person_id(asked) != person_id(g.actor.person)),
        done_late=task["status"] == "done" and task["done_at"] > task["due_at"],
        done=TASK_DONE.get(request.args.get("done"))), status


def _decision_of(db, decision_id: str) -> dict | None:
    """The decision behind a task as it was answered (actions with reasons, the trail);
    None once its content was purged."""
    from app.store import decision_log
    from app.store.errors import DecisionPurged

    try:
        logged = decision_log.get(db, decision_id)
        answered = json.loads(logged.response)
    except DecisionPurged:
        return None
    return {"decision_id": logged.id, "decided_at": logged.decided_at, "level": answered.get("level"),
            "ruleset": answered.get("ruleset") or {"id": logged.ruleset_id, "version": logged.ruleset_version},
            "actions": answered.get("actions") or [], "trail": answered.get("trail") or []}


@bp.route("/tasks/<task_id>")
def task(task_id):
    _require("tasks")
    return _task_page(task_id)


def _act(task_id: str, action: str, run, done: str):
    """Run one change through the follow-up service; a refusal shows the task page with
    what is wrong, next to the forms, and changes nothing."""
    _require(action)
    db = _db()
    _visible_task(db, task_id)
    try:
        run(db)
    except (InvalidRequest, followup.EvidenceInvalid, followup.TaskClosed, followup.TaskTaken, followup.NotClaimed,
            FourEyes) as exc:
        return _task_page(task_id, error=_error(exc), form=request.form, status=status_of(exc))
    return redirect(url_for("console.task", task_id=task_id, done=done), 303)


@bp.route("/tasks/<task_id>/complete", methods=["POST"])
def complete_task(task_id):
    evidence = {k.split(".", 1)[1]: v.strip() for k, v in request.form.items()
                if k.startswith("evidence.") and v.strip()}
    return _act(task_id, "task_work",
                lambda db: followup.complete(db, task_id, g.actor, evidence, g.api_key.roles), "completed")


@bp.route("/tasks/<task_id>/claim", methods=["POST"])
def claim_task(task_id):
    return _act(task_id, "task_claim",
                lambda db: followup.claim(db, task_id, g.actor, g.api_key.roles, g.api_key.queues), "claimed")


@bp.route("/tasks/<task_id>/hand-on", methods=["POST"])
def hand_on_task(task_id):
    # To a person (an owner) or to a queue (a branch's, or the default one).
    kind = "queue" if request.form.get("to_kind") == "queue" else "owner"
    to = {kind: request.form.get("to", "").strip()}
    reason = request.form.get("reason", "").strip()
    return _act(task_id, "task_work",
                lambda db: followup.hand_on(db, task_id, g.actor, to, reason, g.api_key.roles), "handed_on")


@bp.route("/tasks/<task_id>/waiver", methods=["POST"])
def request_waiver(task_id):
    reason = request.form.get("reason", "").strip()
    return _act(task_id, "task_work", lambda db: followup.request_waiver(db, task_id, g.actor, reason, g.api_key.roles),
                "waiver_requested")


@bp.route("/tasks/<task_id>/waiver/approve", methods=["POST"])
def approve_waiver(task_id):
    return _act(task_id, "approve_waiver", lambda db: followup.approve_waiver(db, task_id, g.actor), "waived")
