"""The console's follow-up pages: the evaluation report with its chart and downloads.

Each page calls the functions the API's views call (app/api/followup_report.py) and takes
the roles of that endpoint (``access.py``); reading the report records the same audit
event as the API.
"""

from __future__ import annotations

from flask import g, render_template, request

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
