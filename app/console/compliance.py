"""The console's compliance pages: find decisions, read one as a person would, replay it,
a customer's history, verify the log, export a search, legal holds and the audit trail.

Each page calls the functions the compliance API's views call (app/api/compliance.py,
holds.py, audit.py), takes the roles of that API endpoint (``access.py``) and records the
same audit event: every read of the log is recorded before it is shown. The log holds
personal fields masked, and nothing here unmasks them.
"""

from __future__ import annotations

import json

from flask import (
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from marshmallow import ValidationError

from app.api.compliance import filters_from
from app.api.errors import validation_details
from app.api.schemas import (
    AuditQuerySchema,
    DecisionQuerySchema,
    ExportQuerySchema,
    HoldReleaseSchema,
    HoldRequestSchema,
)
from app.console import access, bp
from app.service import log_search as search
from app.service import replay as replays
from app.service import verification as verifying
from app.store import audit, chain, decision_log, retention, times, verifications
from app.store.audit import record_event
from app.store.errors import InvalidRequest

# The search form's fields, in the order shown (the API's query parameters).
FILTERS = ("customer_id", "ruleset_id", "ruleset_version", "rule", "action", "level", "from", "to", "q")
LEVELS = ("green", "yellow", "orange", "red")
PAGE_SIZE = 25
HISTORY_PAGE = 200


def _db():
    from app.api.database import get_db

    return get_db()


def _require(action: str) -> None:
    access.require(action, g.api_key.roles)


def _masker():
    return current_app.extensions.get("vigil.masker")


def _load(schema, values) -> tuple[dict | None, dict | None]:
    """The API's schema reads the form: (arguments, None) or (None, the error to show)."""
    try:
        return schema.load(values), None
    except ValidationError as exc:
        return None, {"message": "Some fields are not valid; nothing was searched.",
                      "details": validation_details(exc.messages)}


def _given(names) -> dict:
    return {k: v.strip() for k in names if (v := request.args.get(k)) is not None and v.strip()}


def _with_zone(values: dict, names=("from", "to")) -> dict:
    # A date from the form's date field is the start of that day in UTC.
    out = dict(values)
    for name in names:
        if name in out and len(out[name]) == 10:
            out[name] += "T00:00:00Z"
    return out


# ---------------------------------------------------------------- 1 find decisions, 6 export


@bp.route("/decisions")
def decisions():
    _require("audit")
    given = _given((*FILTERS, "cursor"))
    query, error = _load(DecisionQuerySchema(), {**_with_zone(given), "limit": PAGE_SIZE})
    page, searched = None, bool(given)
    if query is not None and searched:
        db = _db()
        try:
            filters = filters_from(query)
            page = search.search(db, filters, cursor=query.get("cursor"), limit=PAGE_SIZE,
                                 index_seconds=current_app.config["VIGIL_SEARCH_INDEX_SECONDS"])
        except InvalidRequest as exc:
            error = {"message": exc.message, "details": exc.details}
        else:
            ids = [d["decision_id"] for d in page.decisions]
            record_event(db, g.actor, "decision.search", "decisions",
                         {"filters": filters.to_dict(), "cursor": query.get("cursor"), "count": len(ids),
                          "decision_ids": ids, **({"index": page.index.to_dict()} if page.index else {})})
    export_args = {k: v for k, v in given.items() if k != "cursor"}
    return render_template("console/compliance/decisions.html", nav="decisions", given=given, page=page,
                           error=error, searched=searched, levels=LEVELS, export_args=export_args,
                           next_args={**export_args, "cursor": page.next_cursor} if page and page.next_cursor
                           else None), 422 if error else 200


_MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


@bp.route("/decisions/export")
def export():
    _require("audit")
    query, error = _load(ExportQuerySchema(), _with_zone(_given((*FILTERS, "format"))))
    if error:
        return render_template("console/error.html", title="Export refused",
                               message="; ".join(f"{d['path']}: {d['message']}" for d in error["details"])), 422
    db = _db()
    filters = filters_from(query)
    exported = search.export(db, filters, query["format"],
                             index_seconds=current_app.config["VIGIL_SEARCH_INDEX_SECONDS"])
    record_event(db, g.actor, "decision.export", "decisions",
                 {"filters": filters.to_dict(), "format": exported.format, "count": exported.count,
                  "through_seq": exported.through_seq})
    stamp = times.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(stream_with_context(exported.chunks), mimetype=_MEDIA[exported.format], headers={
        "Content-Disposition": f'attachment; filename="decisions-{stamp}.{exported.format}"',
        "X-Vigil-Count": str(exported.count), "X-Vigil-Through-Seq": str(exported.through_seq)})


# ---------------------------------------------------------------- 2 read one decision, 3 replay


@bp.route("/decisions/<decision_id>")
def decision(decision_id):
    _require("audit")
    db = _db()
    story = replays.explanation(db, decision_id)
    record_event(db, g.actor, "decision.explain", f"decision:{decision_id}", {"customer_id": story["customer_id"]})
    logged = decision_log.get(db, decision_id)
    # What did not fire is in the answer of a decision asked for with a full explanation.
    answered = json.loads(logged.response)
    return render_template("console/compliance/decision.html", nav="decisions", story=story,
                           not_fired=answered.get("not_fired"), masked=logged.masked)


@bp.route("/decisions/<decision_id>.json")
def decision_json(decision_id):
    """The decision exactly as it was answered, as GET /v1/decisions/{id} gives it."""
    _require("audit")
    db = _db()
    logged = decision_log.get(db, decision_id)
    record_event(db, g.actor, "decision.read", f"decision:{logged.id}", {"customer_id": logged.customer_id})
    return Response(logged.response, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="decision-{logged.id}.json"'})


@bp.route("/decisions/<decision_id>/replay", methods=["POST"])
def replay(decision_id):
    _require("audit")
    db = _db()
    report = replays.replay(db, decision_id, masker=_masker())
    record_event(db, g.actor, "decision.replay", f"decision:{decision_id}",
                 {"identical": report["identical"], "differs_in": sorted(report["diff"]),
                  "with_original_snapshot": False})
    return render_template("console/compliance/replay.html", nav="decisions", report=report)


# ---------------------------------------------------------------- 4 customer history


def timeline_svg(points: list[dict]) -> dict:
    """Where each decision of a history sits on the level timeline (oldest left)."""
    width, height = 760, 150
    n = len(points)
    left, right = 80, 20
    step = (width - left - right) / max(n - 1, 1)
    rows = {level: 20 + i * 34 for i, level in enumerate(reversed(LEVELS))}
    placed = []
    for i, p in enumerate(points):
        y = rows.get(p["level"])
        placed.append({**p, "x": round(left + i * step, 1), "y": y if y is not None else height - 10})
    path = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(placed))
    return {"width": width, "height": height, "rows": rows, "points": placed, "path": path}


@bp.route("/customers")
def customers():
    _require("audit")
    customer = request.args.get("customer_id", "").strip()
    if customer:
        return redirect(url_for("console.customer", customer_id=customer))
    return render_template("console/compliance/customer_find.html", nav="customers")


@bp.route("/customers/<customer_id>")
def customer(customer_id):
    _require("audit")
    query, error = _load(DecisionQuerySchema(), {"customer_id": customer_id, "limit": HISTORY_PAGE})
    if error:
        return render_template("console/error.html", title="Not a customer id",
                               message="; ".join(d["message"] for d in error["details"])), 422
    db = _db()
    filters = filters_from(query)
    page = search.search(db, filters, limit=HISTORY_PAGE)
    ids = [d["decision_id"] for d in page.decisions]
    record_event(db, g.actor, "decision.search", "decisions",
                 {"filters": filters.to_dict(), "cursor": None, "count": len(ids), "decision_ids": ids})
    oldest_first = list(reversed(page.decisions))
    moves, before = [], None
    for d in oldest_first:
        if d["level"] != before:
            moves.append({"decision": d, "from": before, "to": d["level"]})
        before = d["level"]
    holds = retention.list_holds(db, customer_id=customer_id) if access.may("holds", g.api_key.roles) else []
    return render_template("console/compliance/customer.html", nav="customers", customer_id=customer_id,
                           decisions=page.decisions, more=page.next_cursor is not None, moves=moves,
                           svg=timeline_svg(oldest_first), holds=holds)


# ---------------------------------------------------------------- 5 verify the log


@bp.route("/log", methods=["GET", "POST"])
def verify():
    _require("audit")
    report, error, against = None, None, None
    if request.method == "POST":
        db = _db()
        upload = request.files.get("head")
        if upload is not None and upload.filename:
            try:
                data = json.loads(upload.read(4096).decode("utf-8"))
                against = chain.Head.from_dict(data)
            except (ValueError, UnicodeDecodeError):
                error = "The file is not a head this service exports (JSON with seq, chain_hash, count, at)."
            except InvalidRequest as exc:
                error = exc.message
        if error is None:
            job = verifying.start(db, current_app.config, g.actor, against, wait=0.5)
            return redirect(url_for("console.verification", verification_id=job.id), 303)
    return render_template("console/compliance/verify.html", nav="log", report=report, error=error,
                           against=against), 422 if error else 200


@bp.route("/log/verifications/<verification_id>")
def verification(verification_id):
    """A verification: its progress while it runs (the page refreshes itself), then what
    it found."""
    _require("audit")
    job = verifications.get(_db(), verification_id)
    return render_template("console/compliance/verify.html", nav="log", job=job, report=job.report, error=None,
                           against=job.against)


@bp.route("/log/head.json")
def head():
    _require("audit")
    db = _db()
    current = chain.head(db)
    record_event(db, g.actor, "decision.head", "decisions", current.to_dict())
    stamp = times.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(json.dumps(current.to_dict(), indent=2) + "\n", mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="vigil-log-head-{stamp}.json"'})


# ---------------------------------------------------------------- 7 legal holds and retention


def _holds_page(status=200, **extra):
    db = _db()
    show_all = request.args.get("all") == "1"
    holds = retention.list_holds(db, include_released=show_all)
    return render_template("console/compliance/holds.html", nav="holds", holds=holds, show_all=show_all,
                           retention_days=current_app.config["VIGIL_RETENTION_DAYS"], **extra), status


@bp.route("/holds")
def holds():
    _require("holds_read")
    return _holds_page(done={"placed": "Hold placed.", "released": "Hold released."}.get(request.args.get("done")))


@bp.route("/holds", methods=["POST"])
def place_hold():
    _require("holds")
    body, error = _load(HoldRequestSchema(), {k: request.form.get(k, "").strip() for k in ("customer_id", "reason")})
    if error:
        error["message"] = "The hold was not placed."
        return _holds_page(422, error=error, form=request.form)
    retention.place_hold(_db(), body["customer_id"], body["reason"], g.actor)
    return redirect(url_for("console.holds", done="placed"), 303)


@bp.route("/holds/<hold_id>/release", methods=["POST"])
def release_hold(hold_id):
    _require("holds")
    reason = request.form.get("reason", "").strip()
    body, error = _load(HoldReleaseSchema(), {"reason": reason} if reason else {})
    if error:
        error["message"] = "The hold was not released."
        return _holds_page(422, error=error)
    retention.release_hold(_db(), hold_id, g.actor, body.get("reason"))
    return redirect(url_for("console.holds", done="released"), 303)


@bp.route("/holds/purge-preview", methods=["POST"])
def purge_preview():
    """What a purge would remove now: counted, nothing changed."""
    _require("holds")
    report = retention.purge(_db(), retention_days=current_app.config["VIGIL_RETENTION_DAYS"], actor=g.actor,
                             dry_run=True)
    return _holds_page(preview=report)


# ---------------------------------------------------------------- 8 the audit trail


@bp.route("/audit")
def audit_trail():
    _require("audit")
    given = _given(("actor", "action", "target", "since", "until", "cursor"))
    query, error = _load(AuditQuerySchema(), {**_with_zone(given, ("since", "until")), "limit": 50})
    page = None
    if query is not None:
        page = audit.list_events(
            _db(), actor=query.get("actor"), action=query.get("action"), target=query.get("target"),
            since=times.iso(query["since"]) if "since" in query else None,
            until=times.iso(query["until"]) if "until" in query else None,
            cursor=query.get("cursor"), limit=query["limit"])
    filters = {k: v for k, v in given.items() if k != "cursor"}
    return render_template("console/compliance/audit.html", nav="audit", given=given, page=page, error=error,
                           next_args={**filters, "cursor": page.next_cursor} if page and page.next_cursor
                           else None), 422 if error else 200

