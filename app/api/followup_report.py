"""The evaluation of follow-up (app/service/followup_report.py): per owner or per branch
over a period, as JSON a page of groups at a time, or every group exported as CSV or
JSON Lines, streamed. Reading it is an audit event (``follow_up.report``,
``follow_up.report_export``)."""

from __future__ import annotations

from flask import Response, stream_with_context
from marshmallow import Schema, fields, validate

from app.api import auth
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.schemas import _NEEDS_ZONE
from app.service import followup_report
from app.store import times
from app.store.audit import record_event

blp = Blueprint("follow-up-report", __name__, url_prefix="/v1/follow-up",
                description="The evaluation of follow-up: per owner or branch, what was opened, done on time, "
                            "done late, waived and overdue, and how fast people acted.")

_MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
_ROLES = ("approve", "audit")


def _when(description: str, example: str, **options):
    return fields.AwareDateTime(error_messages={"invalid": _NEEDS_ZONE, "invalid_awareness": _NEEDS_ZONE},
                                metadata={"description": description, "example": example}, **options)


class FollowUpReportFilterSchema(Schema):
    from_ = _when("Tasks opened at or after this time (default: 30 days before `to`), ISO 8601 with a time zone.",
                  "2026-04-01T00:00:00Z", data_key="from")
    to = _when("Tasks opened before this time (default: now); at most 366 days after `from`.",
               "2026-05-01T00:00:00Z")
    by = fields.String(load_default="owner", validate=validate.OneOf(followup_report.GROUPINGS), metadata={
        "description": "`owner` (the person a task is assigned to) or `branch`."})


class FollowUpReportQuerySchema(FollowUpReportFilterSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=followup_report.MAX_GROUPS),
                           metadata={"description": "Groups on a page."})
    cursor = fields.String(validate=validate.Length(max=256), metadata={
        "description": "The `next_cursor` of the page before."})


class FollowUpReportExportQuerySchema(FollowUpReportFilterSchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(followup_report.EXPORT_FORMATS), metadata={
        "description": "`csv` or `jsonl`: one row per group and level, `all` (or null) first."})


class _FollowUpFigures(Schema):
    opened = fields.Integer(required=True, metadata={"description": "Tasks opened in the period."})
    done_on_time = fields.Integer(required=True, metadata={"description": "Of those, completed by their due time."})
    done_late = fields.Integer(required=True, metadata={"description": "Completed after their due time."})
    waived = fields.Integer(required=True, metadata={"description": "Waived (with a second person's approval)."})
    overdue_now = fields.Integer(required=True, metadata={"description": "Not closed and past their due time now."})
    open = fields.Integer(required=True, metadata={"description": "Not closed and not due yet."})
    median_hours_to_act = fields.Float(required=True, allow_none=True, metadata={
        "description": "Median hours from opening to completion of the completed ones; null if none."})


class FollowUpReportLevelSchema(_FollowUpFigures):
    level = fields.String(required=True, allow_none=True, metadata={"description": "The task's warning level."})


class FollowUpReportGroupSchema(_FollowUpFigures):
    key = fields.String(required=True, allow_none=True, metadata={
        "description": "The owner (as people are compared: case and spacing folded) or branch; null for tasks with none (waiting in a queue)."})
    levels = fields.List(fields.Nested(FollowUpReportLevelSchema), required=True, metadata={
        "description": "The same figures for each level, lowest first."})


class FollowUpReportSchema(Schema):
    by = fields.String(required=True)
    from_ = fields.String(required=True, data_key="from", metadata={"description": "The period's start."})
    to = fields.String(required=True, metadata={"description": "The period's end (excluded)."})
    as_of = fields.String(required=True, metadata={"description": "The time overdue was judged at."})
    groups = fields.List(fields.Nested(FollowUpReportGroupSchema), required=True, metadata={"description": "By key."})
    totals = fields.Nested(FollowUpReportGroupSchema, required=True, metadata={
        "description": "Every group together (key null)."})
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "Pass it as `cursor` for the next page of groups; null on the last page."})


def report_dict(result) -> dict:
    return {"by": result.by, "from_": result.since, "to": result.until, "as_of": result.now,
            "groups": [g.to_dict() for g in result.groups], "totals": result.totals.to_dict(),
            "next_cursor": result.next_cursor}


@blp.route("/report", methods=["GET"])
@blp.roles(*_ROLES)
@blp.arguments(FollowUpReportQuerySchema, location="query")
@blp.response(200, FollowUpReportSchema)
@blp.errors(422, 503)
def follow_up_report(query):
    """The evaluation of the tasks opened in a period (`from`, `to`), per owner or per
    branch (`by`): opened, done on time, done late, waived, overdue now, still open and
    the median hours to act, each broken down by level; a page of groups at a time."""
    db = get_db()
    result = followup_report.report(db, query["by"], query.get("from_"), query.get("to"),
                                     limit=query["limit"], cursor=query.get("cursor"))
    record_event(db, auth.actor(), "follow_up.report", "follow-up",
                 {"by": result.by, "from": result.since, "to": result.until, "groups": len(result.groups)})
    return report_dict(result)


@blp.route("/report/export", methods=["GET"])
@blp.roles(*_ROLES)
@blp.arguments(FollowUpReportExportQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "One row per group and level, streamed.",
                            "content": {"text/csv": {"schema": {"type": "string"}},
                                        "application/x-ndjson": {"schema": {"type": "string"}}}}})
@blp.errors(422, 503)
def export_follow_up_report(query):
    """Every group of the evaluation as CSV or JSON Lines, one row per group and level
    (its all-levels row first), streamed: memory does not grow with the groups."""
    db = get_db()
    exported = followup_report.export(db, query["by"], query.get("from_"), query.get("to"), query["format"])
    record_event(db, auth.actor(), "follow_up.report_export", "follow-up",
                 {"by": query["by"], "from": exported.since, "to": exported.until, "format": exported.format})
    return export_response(exported)


def export_response(exported) -> Response:
    stamp = times.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(stream_with_context(exported.chunks), mimetype=_MEDIA[exported.format], headers={
        "Content-Disposition": f'attachment; filename="follow-up-report-{stamp}.{exported.format}"'})
