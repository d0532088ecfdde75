"""The console's follow-up pages: the evaluation report with its chart and downloads.

Each page calls the functions the API's views call (app/api/followup_report.py) and takes
the roles of that endpoint (``access.py``); reading the report records the same audit
event as the API.
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from app.api.followup_report import FollowUpReportExportQuerySchema, FollowUpReportQuerySchema, export_response
from app.console import access, bp
from app.console.compliance import _given, _load, _with_zone
from app.service import followup_report
from app.store.audit import record_event
from app.store.errors import InvalidRequest

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
    "waiver_requested": "Waiver requested: another person with the approve role must agree.",
    "waived": "Waived.",
}


def _task_error(exc) -> dict:
    return {"message": exc.message, "details": list(getattr(exc, "details", None) or [])}


def _service():
    from app.service import followup as tasks_service

    return tasks_service


@bp.route("/tasks")
def tasks():
    """My tasks: the signed-in person's open tasks, soonest due first, overdue marked.
    Compliance (and admin) may look at anyone's, by owner, customer and status."""
    _require("tasks")
    svc = _service()
    db = _db()
    see_all = access.may("audit", g.api_key.roles)
    given = _given(("owner", "customer_id", "status")) if see_all else {}
    owner = given.get("owner") if see_all else g.actor.person
    found = svc.list_tasks(db, g.actor, owner=owner, customer_id=given.get("customer_id"),
                           status=given.get("status") or "open")
    waivers = (svc.list_tasks(db, g.actor, status="waiver_requested")
               if access.may("approve_waiver", g.api_key.roles) else None)
    heading = "Tasks" if see_all and owner != g.actor.person else "My tasks"
    lead = ("Follow-up tasks, soonest due first; overdue ones are marked." if see_all else
            "The follow-up tasks assigned to you, soonest due first; overdue ones are marked.")
    return render_template("console/followup/tasks.html", nav="tasks", tasks=found, waivers=waivers,
                           heading=heading, lead=lead, show_filter=see_all, given=given,
                           statuses=svc.STATUSES, empty="No task.", done=TASK_DONE.get(request.args.get("done")))


def _evidence_fields(task) -> list[dict]:
    """The completion form's fields: what the policy asks for as evidence."""
    out = []
    for name, spec in (task.evidence_required or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        out.append({"name": name, "label": name.replace("_", " ").capitalize(), "required": spec.get("required", True),
                    "choices": spec.get("choices"), "kind": spec.get("type", "text")})
    return out


def _task_page(task_id: str, *, error=None, form=None, status=200):
    svc = _service()
    db = _db()
    task = svc.get_task(db, task_id, g.actor, roles=g.api_key.roles)
    roles = g.api_key.roles
    mine = svc.same_person(task.owner, g.actor.person)
    decision = svc.task_decision(db, task)
    return render_template(
        "console/followup/task.html", nav="tasks", task=task, decision=decision, history=task.history,
        overdue=task.overdue, error=error, form=form or {}, evidence_fields=_evidence_fields(task),
        may_work=mine or access.may("admin", roles),
        may_approve=access.may("approve_waiver", roles) and not svc.same_person(task.waiver_requested_by, g.actor.person),
        done=TASK_DONE.get(request.args.get("done"))), status


@bp.route("/tasks/<task_id>")
def task(task_id):
    _require("task")
    return _task_page(task_id)


def _act(task_id, action: str, run, done: str):
    _require(action)
    try:
        run(_db())
    except InvalidRequest as exc:
        return _task_page(task_id, error=_task_error(exc), form=request.form, status=422)
    return redirect(url_for("console.task", task_id=task_id, done=done), 303)


@bp.route("/tasks/<task_id>/complete", methods=["POST"])
def complete_task(task_id):
    evidence = {k.split(".", 1)[1]: v.strip() for k, v in request.form.items() if k.startswith("evidence.") and v.strip()}
    return _act(task_id, "complete", lambda db: _service().complete(db, task_id, evidence, g.actor), "completed")


@bp.route("/tasks/<task_id>/hand-on", methods=["POST"])
def hand_on_task(task_id):
    to = request.form.get("to", "").strip()
    note = request.form.get("note", "").strip() or None
    return _act(task_id, "complete", lambda db: _service().hand_on(db, task_id, to, g.actor, note=note), "handed_on")


@bp.route("/tasks/<task_id>/waiver", methods=["POST"])
def request_waiver(task_id):
    reason = request.form.get("reason", "").strip()
    return _act(task_id, "complete", lambda db: _service().request_waiver(db, task_id, reason, g.actor),
                "waiver_requested")


@bp.route("/tasks/<task_id>/waiver/approve", methods=["POST"])
def approve_waiver(task_id):
    return _act(task_id, "approve_waiver", lambda db: _service().approve_waiver(db, task_id, g.actor), "waived")
