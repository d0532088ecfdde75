"""Follow-up tasks: /v1/tasks. What people must do after decisions, and doing it.

An ``officer`` sees and changes the tasks it owns (a task's owner is the account manager
a snapshot named, matched to the key's owner) and the tasks no one owns waiting in the
queues its key works, which it may claim; nothing else. ``approve``, ``audit`` (and
``admin``) see every task. Waiving takes a second person with ``approve``.
"""
from __future__ import annotations

from flask import g
from marshmallow import Schema, fields, validate

from app.api import auth
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.service import followup
from app.store.tasks import STATUSES

blp = Blueprint("tasks", __name__, url_prefix="/v1/tasks",
                description="Follow-up tasks opened by decisions: list, see, complete, hand on, waive.")

class TaskQuerySchema(Schema):
    owner = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "Tasks of this owner (an officer sees only its own, whatever it asks)."})
    queue = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "Tasks in this queue (`branch:<code>`, or the default queue)."})
    status = fields.String(validate=validate.OneOf(STATUSES))
    customer_id = fields.String(validate=validate.Length(min=1, max=128))
    overdue = fields.Boolean(metadata={"description": "Only open tasks past their due time."})
    cursor = fields.String(validate=validate.Length(min=1, max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=followup.MAX_LIMIT))


class WaiverSchema(Schema):
    requested_by = fields.String(required=True)
    requested_at = fields.String(required=True)
    reason = fields.String(required=True)
    approved_by = fields.String(required=True, allow_none=True)


class TaskSchema(Schema):
    id = fields.String(required=True)
    customer_id = fields.String(required=True)
    action = fields.String(required=True)
    ruleset_id = fields.String(required=True)
    role = fields.String(required=True, metadata={"description": "Who the policy says does it."})
    level = fields.String(required=True, allow_none=True)
    owner = fields.String(required=True, allow_none=True)
    queue = fields.String(required=True, allow_none=True)
    branch = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    waiver_requested = fields.Boolean(required=True)
    opened_at = fields.String(required=True)
    due_at = fields.String(required=True)
    overdue = fields.Boolean(required=True)
    still_asked = fields.Boolean(required=True, metadata={
        "description": "False once a later decision of the same ruleset no longer asks for it."})
    decision_id = fields.String(required=True, metadata={"description": "The decision that opened it."})
    last_decision_id = fields.String(required=True, metadata={"description": "The last decision that asked for it."})
    asked_count = fields.Integer(required=True, metadata={
        "description": "How many decisions asked for it, the one that opened it included."})
    rules = fields.List(fields.String(), required=True)
    evidence_asked = fields.List(fields.String(), required=True)
    outcomes = fields.List(fields.String(), required=True)
    evidence = fields.Dict(required=True, allow_none=True)
    done_at = fields.String(required=True, allow_none=True)
    done_by = fields.String(required=True, allow_none=True)
    waiver = fields.Nested(WaiverSchema, required=True, allow_none=True)


class TaskEventSchema(Schema):
    seq = fields.Integer(required=True)
    at = fields.String(required=True)
    kind = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True)
    decision_id = fields.String(required=True, allow_none=True)
    details = fields.Dict(required=True)


class TaskDetailSchema(TaskSchema):
    decision_ids = fields.List(fields.String(), required=True, metadata={
        "description": "The decision that opened it, each that changed it, and the last that asked for it. "
                       "Every decision that asked for it is in the decision log: search it by customer_id and "
                       "action from opened_at."})
    events = fields.List(fields.Nested(TaskEventSchema), required=True)


class TaskPageSchema(Schema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class EvidenceSchema(Schema):
    evidence = fields.Dict(required=True, metadata={
        "description": "What the task asks for: note (text), contact_date (YYYY-MM-DD), outcome (one of "
                       "the task's outcomes).",
        "example": {"note": "Called; the customer will pay on the 15th.", "contact_date": "2026-04-02",
                    "outcome": "promised_to_pay"}})


class HandOnSchema(Schema):
    owner = fields.String(validate=validate.Length(min=1, max=200))
    queue = fields.String(validate=validate.Length(min=1, max=200))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=followup.MAX_REASON))


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=followup.MAX_REASON))


def _roles() -> set[str]:
    return set(g.api_key.roles)


def _visible(task_id: str) -> None:
    """An officer may only touch its own tasks and those waiting in its queues; another's
    is not found (not told apart)."""
    db = get_db()
    task = followup.get_task(db, task_id)
    if not followup.may_see(task, auth.actor(), _roles(), g.api_key.queues):
        raise followup.TaskNotFound()


@blp.route("", methods=["GET"])
@blp.roles("officer", "approve", "audit")
@blp.arguments(TaskQuerySchema, location="query")
@blp.response(200, TaskPageSchema)
@blp.errors(422, 503)
def list_tasks(query):
    """Tasks by due time, earliest first. An officer gets its own tasks and those no one
    owns waiting in the queues its key works; approve and audit see every task and may
    filter by owner or queue. A page at a time (pass `next_cursor` back as `cursor`)."""
    if followup.sees_all(_roles()):
        owner, queue, queues = query.get("owner"), query.get("queue"), ()
    else:
        owner, queue, queues = auth.actor().person, None, g.api_key.queues
    return followup.list_tasks(get_db(), owner=owner, queue=queue, status=query.get("status"),
                               customer_id=query.get("customer_id"), overdue=query.get("overdue"),
                               cursor=query.get("cursor"), limit=query["limit"], queues=queues)


@blp.route("/<string:task_id>", methods=["GET"])
@blp.roles("officer", "approve", "audit")
@blp.response(200, TaskDetailSchema)
@blp.errors(404, 503)
def get_task(task_id):
    """One task: the decisions behind it, the rules, the evidence asked and given, and
    everything that happened to it."""
    _visible(task_id)
    return followup.get_task(get_db(), task_id)


@blp.route("/<string:task_id>/complete", methods=["POST"])
@blp.roles("officer", "approve")
@blp.arguments(EvidenceSchema, example={"evidence": {"note": "Called; will pay on the 15th.",
                                                     "contact_date": "2026-04-02", "outcome": "promised_to_pay"}})
@blp.response(200, TaskDetailSchema)
@blp.errors(400, 404, 409, 415, 422, 503)
def complete_task(body, task_id):
    """Record the task as done, with the evidence its policy asks for (422 names each
    missing or bad field). An audit event."""
    _visible(task_id)
    return followup.complete(get_db(), task_id, auth.actor(), body["evidence"], _roles())


@blp.route("/<string:task_id>/claim", methods=["POST"])
@blp.roles("officer", "approve")
@blp.response(200, TaskDetailSchema)
@blp.errors(404, 409, 503)
def claim_task(task_id):
    """Take a task no one owns from a queue your key works (an officer) or from any queue
    (approve): it becomes yours. 409 `task_taken` names who owns it when someone was
    first. An audit event."""
    _visible(task_id)
    return followup.claim(get_db(), task_id, auth.actor(), _roles(), g.api_key.queues)


@blp.route("/<string:task_id>/hand-on", methods=["POST"])
@blp.roles("officer", "approve")
@blp.arguments(HandOnSchema, example={"owner": "rm-0042", "reason": "rm-0042 manages the customer now"})
@blp.response(200, TaskDetailSchema)
@blp.errors(400, 404, 409, 415, 422, 503)
def hand_on_task(body, task_id):
    """Give the task to another owner or queue, with a reason. An audit event."""
    _visible(task_id)
    to = {k: body[k] for k in ("owner", "queue") if k in body}
    return followup.hand_on(get_db(), task_id, auth.actor(), to, body["reason"], _roles())


@blp.route("/<string:task_id>/waiver", methods=["POST"])
@blp.roles("officer", "approve")
@blp.arguments(ReasonSchema, example={"reason": "The customer repaid in full on 2026-04-01."})
@blp.response(200, TaskDetailSchema)
@blp.errors(400, 404, 409, 415, 422, 503)
def request_waiver(body, task_id):
    """Ask for the task to be waived, with a reason; it stays open until a second
    person with the approve role approves. An audit event."""
    _visible(task_id)
    return followup.request_waiver(get_db(), task_id, auth.actor(), body["reason"], _roles())


@blp.route("/<string:task_id>/waiver/approve", methods=["POST"])
@blp.roles("approve")
@blp.response(200, TaskDetailSchema)
@blp.errors(403, 404, 409, 503)
def approve_waiver(task_id):
    """Waive the task as asked: by another person than the one who asked (403
    `four_eyes` otherwise). An audit event."""
    return followup.approve_waiver(get_db(), task_id, auth.actor())
