"""The console's pages. Each view reads or changes policies through the policy service
(app/service/policies.py), the functions the API's views call, and shows what they
answer; none of them checks a lifecycle rule itself. A trial decision is the one
decision path's, with nothing logged."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import time
from collections import OrderedDict
from decimal import Decimal

import yaml
from markupsafe import Markup, escape
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from flask import (Response, abort, current_app, g, jsonify, redirect, render_template, request,
                   url_for)

from app.api import serving
from app.api import simulations as simulation_api
from app.api.parsing import parse_json_body
from app.api.errors import status_of
from app.api.schemas import PublishRequestSchema, RejectRequestSchema, RollbackRequestSchema, SubmitRequestSchema
from app.console import SESSION_COOKIE, SIGN_IN_COOKIE, access, bp, new_sign_in_token, safe_next, set_cookie
from app.console import snapshot_form, yamlmap
from app.core.errors import VigilError
from app.engine import EngineError, RulesetInvalid
from app.engine.diff import diff_rulesets
from app.portfolio.report_html import grouped_bars, move_matrix, render_html
from app.service import policies
from app.service.checker import CheckBudgetExceeded, CheckFailed
from app.store import StoreError, keys as key_store, sessions, times
from app.store import simulations as simulation_store
from app.store.audit import list_events, person_id
from app.store.errors import InvalidRequest, TooManyDrafts

# What a redirect after a change says, by its code in ?done=.
DONE = {
    "draft": "Draft created. Edit it below, then check and save.",
    "saved": "Draft saved.",
    "submitted": "Submitted for approval. Another person must approve it.",
    "approved": "Approved. It can be published now or scheduled.",
    "rejected": "Rejected.",
    "published": "Published: it is in effect now.",
    "scheduled": "Scheduled: it takes effect at the time shown.",
    "retired": "Retired: it can no longer be published, pinned or rolled back to.",
    "rolled_back": "Rolled back: the version shown is in effect now.",
}


def _db():
    from app.api.database import get_db

    return get_db()


def _roles():
    return g.api_key.roles


def _served_changed() -> None:
    # What the API's governance views do after a change to what is served.
    serving.refresh(current_app._get_current_object(), force=True)


def _error_dict(exc: Exception) -> dict:
    details = list(getattr(exc, "details", None) or [])
    return {"status": status_of(exc) if isinstance(exc, VigilError) else 500,
            "reason": getattr(exc, "reason", "error"),
            "message": getattr(exc, "message", None) or str(exc), "details": details}


def register_error_handlers(blueprint) -> None:
    @blueprint.errorhandler(403)
    def forbidden(exc):
        return render_template("console/error.html", title="Not allowed",
                               message="Your key does not have a role this needs; nothing was changed."), 403

    @blueprint.errorhandler(404)
    def not_found(exc):
        return render_template("console/error.html", title="Not found", message="There is no such page."), 404

    @blueprint.errorhandler(HTTPException)
    def http_error(exc):
        return render_template("console/error.html", title=exc.name,
                               message=exc.description or exc.name), exc.code or 500

    @blueprint.errorhandler(Exception)
    def unexpected(exc):
        current_app.logger.error("console: unhandled error", exc_info=exc)
        return render_template("console/error.html", title="Something went wrong",
                               message="The console could not do this; nothing was changed. The service log "
                                       "has the details."), 500

    @blueprint.errorhandler(StoreError)
    def store_error(exc):
        if status_of(exc) >= 500:
            from app.api.database import drop_db

            drop_db()
            current_app.logger.error("console: store error", exc_info=exc)
            message = "The database is unavailable right now; nothing was changed. Try again in a moment."
        else:
            message = exc.message
        return render_template("console/error.html", title="Not possible", message=message), status_of(exc)

    @blueprint.errorhandler(VigilError)
    def vigil_error(exc):
        status = status_of(exc)
        message = exc.message if status < 500 else "This could not be done right now; see the service log."
        return render_template("console/error.html", title="Not possible", message=message), status

    @blueprint.errorhandler(EngineError)
    def engine_error(exc):
        status = status_of(exc)
        message = exc.message if status < 500 else "The engine could not do this; see the service log."
        return render_template("console/error.html", title="Not possible", message=message), status


# ---------------------------------------------------------------- sign-in


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    error = None
    next_page = request.values.get("next") or ""
    if request.method == "POST":
        sent = request.form.get("sign_in_token", "")
        expected = request.cookies.get(SIGN_IN_COOKIE, "")
        if not expected or sent != expected:
            error = "This sign-in form has expired. Enter your key again."
        else:
            db = _db()
            key = key_store.authenticate(db, request.form.get("api_key", "").strip())
            if key is None:
                error = "This API key is not valid: unknown, malformed or revoked."
            elif not access.may_sign_in(key.roles):
                error = ("This key may only ask for decisions (role decide), as a loan system does; the console "
                         "needs a key with author, approve, audit or admin.")
            else:
                token, _ = sessions.open_session(db, key, lifetime=current_app.config["VIGIL_CONSOLE_SESSION_SECONDS"])
                response = redirect(safe_next(next_page))
                set_cookie(response, SESSION_COOKIE, token)
                response.delete_cookie(SIGN_IN_COOKIE, path="/console")
                return response
    token = new_sign_in_token()
    ended = request.args.get("ended") == "1"
    response = Response(render_template("console/sign_in.html", error=error, next_page=next_page,
                                        sign_in_token=token, ended=ended),
                        status=401 if error else 200)
    set_cookie(response, SIGN_IN_COOKIE, token, max_age=3600)
    return response


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    sessions.end_session(_db(), g.console_token, g.actor)
    response = redirect(url_for("console.sign_in", signed_out="1"))
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@bp.route("/")
def home():
    # Where a person starts: what is in force, or (for a key that only follows up) My tasks.
    if not access.may("read", _roles()) and access.may("tasks", _roles()):
        return redirect(url_for("console.tasks"))
    return redirect(url_for("console.rulesets"))


# ---------------------------------------------------------------- what is in force


def shown_status(version, history, now: str) -> str:
    """The status badge: "scheduled" for a published version none of whose
    publications has taken effect yet."""
    if version.status == "published":
        own = [p for p in history if p.version == version.version]
        if own and all(p.effective_at > now for p in own):
            return "scheduled"
    return version.status


def _histories(db) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in policies.list_publications(db):
        out.setdefault(p.ruleset_id, []).append(p)
    return out


@bp.route("/rulesets")
def rulesets():
    db = _db()
    now = times.iso(times.now())
    versions = policies.list_versions(db)
    histories = _histories(db)
    rows = OrderedDict()
    for v in versions:
        row = rows.setdefault(v.ruleset_id, {"id": v.ruleset_id, "versions": [], "in_effect": None,
                                             "scheduled": [], "open": []})
        row["versions"].append(v)
    for rid, row in rows.items():
        history = histories.get(rid, [])
        current = policies.in_effect(history, now)
        by_number = {v.version: v for v in row["versions"]}
        row["in_effect"] = by_number.get(current.version) if current else None
        row["publication"] = current
        row["scheduled"] = [p for p in history if p.effective_at > now]
        row["open"] = [v for v in row["versions"] if v.status in ("draft", "submitted", "approved")]
        row["title"] = (row["in_effect"] or row["versions"][-1]).title
    return render_template("console/rulesets.html", rows=list(rows.values()), done=DONE.get(request.args.get("done")))


def _ruleset_page(ruleset_id: str, *, status: int = 200, **extra):
    db = _db()
    versions = policies.list_versions(db, ruleset_id)
    if not versions:
        abort(404)
    now = times.iso(times.now())
    history = policies.list_publications(db, ruleset_id)
    current = policies.in_effect(history, now)
    published = {}
    for p in history:
        published.setdefault(p.version, []).append(p)
    return render_template(
        "console/ruleset.html", ruleset_id=ruleset_id, versions=list(reversed(versions)), history=history,
        current=current, published=published, now=now,
        status_of={v.version: shown_status(v, history, now) for v in versions},
        title=(next((v for v in versions if current and v.version == current.version), versions[-1])).title,
        rollback_to=[v.version for v in versions if v.status == "published" and (not current or v.version != current.version)],
        done=DONE.get(request.args.get("done")), **extra), status


@bp.route("/rulesets/<ruleset_id>")
def ruleset(ruleset_id):
    return _ruleset_page(ruleset_id)


# ---------------------------------------------------------------- drafts


# libyaml's emitter when PyYAML has it: the same text, several times faster.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml_text(document: dict | str | None) -> str:
    """Content to show in the editor: text as it was written, data as YAML."""
    if document is None:
        return ""
    if isinstance(document, str):
        return document
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100)


def _upload_text(name: str) -> str | None:
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        return None
    data = upload.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RulesetInvalid([_problem(upload.filename, "the file is not UTF-8 text")]) from None


def _problem(source: str, message: str):
    from app.engine import Problem

    return Problem(source, message)


@bp.route("/rulesets/<ruleset_id>/drafts", methods=["POST"])
def new_draft(ruleset_id):
    access.require("draft", _roles())
    db = _db()
    try:
        document = _upload_text("document_file")
        scenarios = _upload_text("scenarios_file")
        if document is None:
            try:
                base = policies.get_version(db, ruleset_id, int(request.form.get("from_version", "")))
            except ValueError:
                raise RulesetInvalid([_problem("form", "choose a version to start from, or upload a file")]) \
                    from None
            document, scenarios = base.as_written
        version = policies.create_draft(db, ruleset_id, document, scenarios, g.actor)
    except (RulesetInvalid, CheckBudgetExceeded, CheckFailed) as exc:
        return _ruleset_page(ruleset_id, status=422, draft_problems=exc.details)
    except TooManyDrafts as exc:
        return _ruleset_page(ruleset_id, status=status_of(exc), draft_problems=[{"message": exc.message}])
    return redirect(url_for("console.edit", ruleset_id=ruleset_id, version=version.version, done="draft"))


def _contract_fields(version):
    contract = serving.library().contract(version.contract_id, version.contract_version)
    return contract, [{"path": path, "type": spec.kind, "required": spec.required,
                       "description": spec.description, "personal": spec.personal,
                       "values": list(spec.values), "min": spec.min, "max": spec.max,
                       "depth": path.count(".")}
                      for path, spec in contract.paths()]


def _located(document_text: str, scenarios_text: str, exc: RulesetInvalid) -> list[dict]:
    problems = exc.details
    in_scenarios = [p for p in problems if str(p.get("file", "")).endswith("scenarios")]
    in_document = [p for p in problems if p not in in_scenarios]
    located = yamlmap.locate(document_text, in_document)
    for p in yamlmap.locate(scenarios_text or "", in_scenarios):
        p["in_scenarios"] = True
        located.append(p)
    return located


def _edit_page(version, document_text, scenarios_text, revision, *, problems=None, checked=False,
               conflict=None, status=200):
    _, fields = _contract_fields(version)
    return render_template("console/edit.html", version=version, document_text=document_text,
                           scenarios_text=scenarios_text, revision=revision, problems=problems or [],
                           checked=checked, conflict=conflict, fields=fields,
                           done=DONE.get(request.args.get("done"))), status


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/edit", methods=["GET", "POST"])
def edit(ruleset_id, version):
    access.require("edit", _roles())
    db = _db()
    stored = policies.get_version(db, ruleset_id, version)
    if request.method == "GET":
        if not policies.allowed(stored, "edit"):
            return redirect(url_for("console.version", ruleset_id=ruleset_id, version=version))
        document, scenarios = stored.as_written
        return _edit_page(stored, _yaml_text(document), _yaml_text(scenarios), stored.revision)
    document_text = request.form.get("document", "")
    scenarios_text = request.form.get("scenarios", "")
    revision = request.form.get("revision", "")
    scenarios = scenarios_text if scenarios_text.strip() else None
    if request.form.get("action") == "save":
        try:
            policies.edit_draft(db, ruleset_id, version, document_text, g.actor, scenarios=scenarios,
                                based_on=revision)
        except (RulesetInvalid, CheckBudgetExceeded, CheckFailed) as exc:
            return _edit_page(stored, document_text, scenarios_text, revision, checked=True, status=422,
                              problems=_located(document_text, scenarios_text, exc))
        except StoreError as exc:
            if status_of(exc) >= 500:
                raise
            return _edit_page(stored, document_text, scenarios_text, revision, conflict=exc.message,
                              status=status_of(exc))
        return redirect(url_for("console.edit", ruleset_id=ruleset_id, version=version, done="saved"))
    problems = _check(db, ruleset_id, version, document_text, scenarios)
    return _edit_page(stored, document_text, scenarios_text, revision, checked=True,
                      problems=problems, status=422 if problems else 200)


def _check(db, ruleset_id, version, document_text, scenarios_text) -> list[dict]:
    try:
        policies.check_draft(db, ruleset_id, version, document_text, scenarios_text)
    except (RulesetInvalid, CheckBudgetExceeded, CheckFailed) as exc:
        return _located(document_text, scenarios_text or "", exc)
    return []


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/check", methods=["POST"])
def check(ruleset_id, version):
    """The editor's Check, for the script: the problems with their lines, as JSON."""
    access.require("edit", _roles())
    document_text = request.form.get("document", "")
    scenarios_text = request.form.get("scenarios", "")
    problems = _check(_db(), ruleset_id, version, document_text, scenarios_text if scenarios_text.strip() else None)
    return jsonify({"problems": problems})


# ---------------------------------------------------------------- a version and its lifecycle


def _version_page(ruleset_id, version, *, errors=None, status=200):
    db = _db()
    stored = policies.get_version(db, ruleset_id, version)
    now = times.iso(times.now())
    history = policies.list_publications(db, ruleset_id)
    current = policies.in_effect(history, now)
    events = list_events(db, target=stored.target, limit=200).events
    versions = policies.list_versions(db, ruleset_id)
    return render_template(
        "console/version.html", version=stored, status=shown_status(stored, history, now),
        document_text=_yaml_text(stored.as_written[0]), scenarios_text=_yaml_text(stored.as_written[1]),
        in_effect=current is not None and current.version == version,
        publications_of=[p for p in history if p.version == version], events=events,
        allowed={step: policies.allowed(stored, step) for step in policies.STEPS},
        own=person_id(g.actor.person) in policies.writers(stored), errors=errors or {},
        other_versions=[v.version for v in versions if v.version != version],
        done=DONE.get(request.args.get("done"))), status


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>")
def version(ruleset_id, version):
    return _version_page(ruleset_id, version)


def _step(ruleset_id, version, action, run, done):
    """Run one lifecycle step; on refusal show the version page with the error next to
    the button that caused it."""
    access.require(action, _roles())
    try:
        run(_db())
    except (StoreError, RulesetInvalid, CheckBudgetExceeded, CheckFailed) as exc:
        if status_of(exc) >= 500:
            raise
        return _version_page(ruleset_id, version, errors={action: _error_dict(exc)}, status=status_of(exc))
    if action in ("approve", "publish", "retire"):
        _served_changed()
    return redirect(url_for("console.version", ruleset_id=ruleset_id, version=version, done=done))


def submission_note() -> str | None:
    """The submit form's note for the approver, checked as the API checks it."""
    text = request.form.get("note", "").strip()
    return _api_body(SubmitRequestSchema, {"note": text} if text else {}).get("note")


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/submit", methods=["POST"])
def submit(ruleset_id, version):
    return _step(ruleset_id, version, "submit",
                 lambda db: policies.submit(db, ruleset_id, version, g.actor, note=submission_note()), "submitted")


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/approve", methods=["POST"])
def approve(ruleset_id, version):
    return _step(ruleset_id, version, "approve",
                 lambda db: policies.approve(db, ruleset_id, version, g.actor), "approved")


def _api_body(schema, data: dict) -> dict:
    """A form's fields checked by the API's own request schema for the same step."""
    try:
        return schema().load(data)
    except ValidationError as exc:
        raise InvalidRequest("The form is not complete.",
                             [{"path": path, "message": " ".join(messages)}
                              for path, messages in exc.messages.items()]) from None


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/reject", methods=["POST"])
def reject(ruleset_id, version):
    def run(db):
        body = _api_body(RejectRequestSchema, {"reason": request.form.get("reason", "").strip()})
        policies.reject(db, ruleset_id, version, g.actor, body["reason"])

    return _step(ruleset_id, version, "reject", run, "rejected")


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/publish", methods=["POST"])
def publish(ruleset_id, version):
    when = request.form.get("effective_at", "").strip()
    scheduled = request.form.get("when") == "schedule"

    def run(db):
        effective_at = None
        if scheduled:
            # the form's time is UTC (the field says so); the API's schema reads it
            body = _api_body(PublishRequestSchema, {"effective_at": f"{when}Z" if when else None})
            effective_at = body.get("effective_at")
            if effective_at is None:
                raise InvalidRequest("Give the time it takes effect.",
                                     [{"path": "effective_at", "message": "Required to schedule."}])
        policies.publish(db, ruleset_id, version, g.actor, effective_at)

    return _step(ruleset_id, version, "publish", run, "scheduled" if scheduled else "published")


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/retire", methods=["POST"])
def retire(ruleset_id, version):
    return _step(ruleset_id, version, "retire", lambda db: policies.retire(db, ruleset_id, version, g.actor),
                 "retired")


@bp.route("/rulesets/<ruleset_id>/rollback", methods=["POST"])
def rollback(ruleset_id):
    access.require("rollback", _roles())
    raw = request.form.get("to_version", "").strip()
    try:
        body = _api_body(RollbackRequestSchema, {"to_version": int(raw)} if raw.isdigit() else {})
        publication = policies.rollback(_db(), ruleset_id, g.actor, body.get("to_version"))
    except StoreError as exc:
        if status_of(exc) >= 500:
            raise
        return _ruleset_page(ruleset_id, status=status_of(exc), rollback_error=_error_dict(exc))
    _served_changed()
    return redirect(url_for("console.ruleset", ruleset_id=ruleset_id, done="rolled_back",
                            _anchor=f"v{publication.version}"))


# ---------------------------------------------------------------- compare


@bp.route("/rulesets/<ruleset_id>/compare")
def compare(ruleset_id):
    db = _db()
    versions = policies.list_versions(db, ruleset_id)
    if not versions:
        abort(404)
    numbers = [v.version for v in versions]
    current = policies.in_effect(policies.list_publications(db, ruleset_id), times.now())

    def number(name, default):
        raw = request.args.get(name, "")
        return int(raw) if raw.isdigit() and int(raw) in numbers else default

    head = number("to", numbers[-1])
    base = number("from", current.version if current and current.version != head else numbers[0])
    old = policies.get_version(db, ruleset_id, base)
    new = policies.get_version(db, ruleset_id, head)
    changes = diff_rulesets(old.document, new.document)
    rules = [{"id": c["rule"], "title": c["title"], "fields": _side_by_side(old_rules.get(c["rule"], {}),
                                                                           new_rules.get(c["rule"], {}))}
             for c in changes["changed"]
             for old_rules, new_rules in [(_rules_of(old.document), _rules_of(new.document))]]
    return render_template("console/compare.html", ruleset_id=ruleset_id, numbers=numbers, old=old, new=new,
                           changes=changes, rules=rules, dump=_short_yaml, inline_diff=inline_diff)


def _rules_of(document: dict) -> dict:
    return {r["id"]: r for r in document.get("rules") or [] if isinstance(r, dict) and "id" in r}


# A changed rule is shown whole: these fields of it, old and new, the changed ones marked.
_SHOWN = ("when", "level", "review", "actions", "signals", "priority", "clause", "title", "reason", "description")


def _side_by_side(old: dict, new: dict) -> list[dict]:
    rows = []
    for key in _SHOWN:
        if key not in old and key not in new:
            continue
        before, after = _short_yaml(old.get(key)), _short_yaml(new.get(key))
        rows.append({"field": key, "changed": " ".join(before.split()) != " ".join(after.split()),
                     "before": before, "after": after})
    return rows


_TOKENS = re.compile(r"\w+|[^\w\s]|\s+")


def inline_diff(before: str, after: str) -> tuple[Markup, Markup]:
    """The two texts with the words that differ marked (<del> in the old, <ins> in the new)."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    old, new = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        left, right = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            old.append(left)
            new.append(right)
            continue
        if a[i1:i2]:
            old.append(Markup("<del>") + left + Markup("</del>"))
        if b[j1:j2]:
            new.append(Markup("<ins>") + right + Markup("</ins>"))
    return Markup("").join(old), Markup("").join(new)


def _short_yaml(value) -> str:
    """A rule field as one short line of YAML: a list or mapping in flow style, a
    scalar as itself."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, dict | list):
        return str(value)
    return yaml.dump(value, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, default_flow_style=True,
                     width=80).strip()


# ---------------------------------------------------------------- scenarios and trials


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/scenarios", methods=["GET", "POST"])
def scenarios(ruleset_id, version):
    access.require("scenarios", _roles())
    db = _db()
    stored = policies.get_version(db, ruleset_id, version)
    results = None
    if request.method == "POST":
        from app.console import scenario_view

        results = scenario_view.run(db, stored)
    return render_template("console/scenarios.html", version=stored, results=results)


def trial_decision(db, stored, snapshot: dict) -> dict:
    """Decide on a snapshot through the one decision path as a trial, in a checker:
    nothing is logged and no task is opened. The answer as a logged decision would read."""
    response = policies.try_version(db, stored.ruleset_id, stored.version, snapshot, "full",
                                    masker=current_app.extensions.get("vigil.masker"))
    return json.loads(response, parse_float=Decimal)


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/try", methods=["GET", "POST"])
def try_snapshot(ruleset_id, version):
    access.require("try", _roles())
    db = _db()
    stored = policies.get_version(db, ruleset_id, version)
    contract, _ = _contract_fields(stored)
    mode = request.values.get("mode", "form")
    values: dict[str, str] = {}
    json_text = ""
    result = error = None
    field_errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            if mode == "json":
                json_text = request.form.get("snapshot_json", "")
                try:
                    snapshot = parse_json_body(json_text.encode())
                except Exception:  # noqa: BLE001 - any parse failure is shown next to the box
                    raise snapshot_form.FormProblem("snapshot_json", "This is not a JSON object.") from None
                if not isinstance(snapshot, dict):
                    raise snapshot_form.FormProblem("snapshot_json", "This is not a JSON object.")
            else:
                values = {k: v for k, v in request.form.items() if k.startswith("f:")}
                snapshot = snapshot_form.snapshot_from_form(contract, values)
            result = trial_decision(db, stored, snapshot)
        except snapshot_form.FormProblem as exc:
            field_errors[exc.field] = exc.message
        except (EngineError, CheckBudgetExceeded, CheckFailed) as exc:
            info = _error_dict(exc)
            if info["status"] >= 500:
                raise
            error = info
            for d in info["details"]:
                if d.get("path"):
                    field_errors["f:" + d["path"]] = d.get("message", "")
    else:
        example = snapshot_form.example_snapshot(stored.scenarios)
        values = snapshot_form.form_values(contract, example)
        json_text = json.dumps(example, indent=2, default=str) if example else "{}"
    return render_template("console/try.html", version=stored, fields=snapshot_form.form_fields(contract),
                           values=values, json_text=json_text, mode=mode, result=result, error=error,
                           field_errors=field_errors, levels=list(policies.check_version(db, stored).levels))


# ---------------------------------------------------------------- simulations


@bp.route("/rulesets/<ruleset_id>/versions/<int:version>/simulate", methods=["GET", "POST"])
def simulate(ruleset_id, version):
    access.require("simulate", _roles())
    db = _db()
    stored = policies.get_version(db, ruleset_id, version)
    errors: dict[str, str] = {}
    today = dt.date.today()
    form = {"from": (today - dt.timedelta(days=30)).isoformat(), "until": (today + dt.timedelta(days=1)).isoformat(),
            "source": "log", "baseline": ""}
    if request.method == "POST":
        form.update({k: request.form.get(k, form.get(k, "")) for k in ("from", "until", "source", "baseline")})
        snapshots = since = until = None
        baseline = int(form["baseline"]) if form["baseline"].isdigit() else None
        if form["source"] == "file":
            snapshots = _uploaded_snapshots(errors)
        else:
            from app.portfolio import log_time

            for name in ("from", "until"):
                try:
                    log_time(form[name])
                except ValueError as exc:
                    errors[name] = str(exc)
            since, until = form["from"], form["until"]
        if not errors:
            try:
                simulation = simulation_api.start(db, g.actor, ruleset_id, version, baseline_version=baseline,
                                                  snapshots=snapshots, since=since, until=until)
            except StoreError as exc:
                if status_of(exc) >= 500:
                    raise
                errors["baseline"] = exc.message
            else:
                return redirect(url_for("console.simulation", simulation_id=simulation.id))
    versions = policies.list_versions(db, ruleset_id)
    current = policies.in_effect(policies.list_publications(db, ruleset_id), times.now())
    return render_template("console/simulate.html", version=stored, form=form, errors=errors,
                           baselines=[v.version for v in versions if v.version != version],
                           current=current), (422 if errors else 200)


def _uploaded_snapshots(errors: dict) -> list | None:
    upload = request.files.get("snapshots_file")
    if upload is None or not upload.filename:
        errors["snapshots_file"] = "Choose a JSON Lines file: one snapshot per line."
        return None
    snapshots = []
    for n, line in enumerate(upload.read().splitlines(), 1):
        if not line.strip():
            continue
        try:
            snapshot = parse_json_body(line)
        except Exception:  # noqa: BLE001
            errors["snapshots_file"] = f"Line {n} is not JSON."
            return None
        if not isinstance(snapshot, dict):
            errors["snapshots_file"] = f"Line {n} is not a JSON object."
            return None
        snapshot = snapshot.get("snapshot", snapshot) if isinstance(snapshot.get("snapshot"), dict) else snapshot
        snapshots.append(snapshot)
        if len(snapshots) > simulation_api.SNAPSHOT_LIMIT:
            errors["snapshots_file"] = f"At most {simulation_api.SNAPSHOT_LIMIT} snapshots in one file."
            return None
    if not snapshots:
        errors["snapshots_file"] = "The file holds no snapshots."
        return None
    return snapshots


@bp.route("/simulations/<simulation_id>")
def simulation(simulation_id):
    access.require("simulate", _roles())
    sim = simulation_store.get(_db(), simulation_id)
    charts = {}
    report = sim.report
    if report:
        levels = report["levels"]
        charts["levels"] = grouped_bars("Customers by warning level", report["level_counts"], levels)
        charts["moves"] = move_matrix(levels, report["level_moves"]["matrix"])
    return render_template("console/simulation.html", sim=sim, report=report, charts=charts)


@bp.route("/simulations/<simulation_id>/report")
def simulation_report(simulation_id):
    access.require("simulate", _roles())
    sim = simulation_store.get(_db(), simulation_id)
    if sim.status != "done" or sim.report is None:
        return redirect(url_for("console.simulation", simulation_id=simulation_id))
    from app.api.headers import PAGE_CSP

    return Response(render_html(simulation_api.report_from_dict(sim.report)), mimetype="text/html",
                    headers={"Content-Security-Policy": PAGE_CSP})
