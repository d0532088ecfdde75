"""The console's fact contract pages: every contract version with its status, a new
draft from YAML text or a file, and the lifecycle steps under four eyes, each the API
endpoint's action with that endpoint's roles (see access.py)."""

from __future__ import annotations

from collections import OrderedDict

from flask import abort, g, redirect, render_template, request, url_for

from app.api.errors import status_of
from app.api.schemas import RejectRequestSchema
from app.console import access, bp
from app.console.views import (
    _api_body,
    _db,
    _error_dict,
    _roles,
    _served_changed,
    _upload_text,
    _yaml_text,
    submission_note,
)
from app.engine import RulesetInvalid
from app.service import contracts
from app.store import StoreError
from app.store.audit import list_events, person_id

DONE = {
    "draft": "Contract draft stored. Submit it; someone else approves and publishes it.",
    "submitted": "Submitted for approval. Another person must approve it.",
    "approved": "Approved. Publish it to serve it.",
    "rejected": "Rejected.",
    "published": "Published: it is served now, and ruleset versions that name it can be approved.",
    "retired": "Retired: it can no longer be used.",
}


def _list_page(*, status: int = 200, **extra):
    rows: OrderedDict[str, list] = OrderedDict()
    for version in contracts.list_contracts(_db()):
        rows.setdefault(version.contract_id, []).append(version)
    return render_template("console/contracts.html", rows=[(cid, list(reversed(vs))) for cid, vs in rows.items()],
                           done=DONE.get(request.args.get("done")), **extra), status


@bp.route("/contracts")
def contract_list():
    access.require("read", _roles())
    return _list_page()


@bp.route("/contracts/drafts", methods=["POST"])
def new_contract():
    access.require("contract_draft", _roles())
    contract_id = request.form.get("contract_id", "").strip()
    text = request.form.get("document", "")
    try:
        text = _upload_text("document_file") or text
        stored = contracts.create(_db(), contract_id, text, g.actor)
    except (StoreError, RulesetInvalid) as exc:
        if status_of(exc) >= 500:
            raise
        return _list_page(status=status_of(exc), draft_error=_error_dict(exc), contract_id=contract_id, document=text)
    return redirect(url_for("console.contract_version", contract_id=stored.contract_id, version=stored.version,
                            done="draft"))


def _version_page(contract_id: str, version: int, *, errors=None, status: int = 200):
    db = _db()
    stored = contracts.get_contract(db, contract_id, version)
    return render_template(
        "console/contract.html", version=stored, document_text=_yaml_text(stored.document),
        events=list_events(db, target=stored.target, limit=200).events,
        allowed={step: contracts.allowed(stored, step) for step in contracts.CONTRACT_STEPS},
        own=person_id(g.actor.person) in contracts.writers(stored), errors=errors or {},
        done=DONE.get(request.args.get("done"))), status


@bp.route("/contracts/<contract_id>/versions/<int:version>")
def contract_version(contract_id, version):
    access.require("read", _roles())
    return _version_page(contract_id, version)


def _contract_step(contract_id: str, version: int, step: str, run, done: str):
    access.require(f"contract_{step}", _roles())
    try:
        run(_db())
    except (StoreError, RulesetInvalid) as exc:
        if status_of(exc) >= 500:
            raise
        return _version_page(contract_id, version, errors={step: _error_dict(exc)}, status=status_of(exc))
    if step in ("publish", "retire"):
        _served_changed()
    return redirect(url_for("console.contract_version", contract_id=contract_id, version=version, done=done))


@bp.route("/contracts/<contract_id>/versions/<int:version>/<step>", methods=["POST"])
def contract_step(contract_id, version, step):
    if step not in contracts.CONTRACT_STEPS:
        abort(404)
    if step == "reject":
        def run(db):
            body = _api_body(RejectRequestSchema, {"reason": request.form.get("reason", "").strip()})
            contracts.reject(db, contract_id, version, g.actor, body["reason"])
    elif step == "submit":
        def run(db):
            contracts.submit(db, contract_id, version, g.actor, note=submission_note())
    else:
        def run(db):
            getattr(contracts, step)(db, contract_id, version, g.actor)
    done = {"submit": "submitted", "approve": "approved", "reject": "rejected", "publish": "published",
            "retire": "retired"}[step]
    return _contract_step(contract_id, version, step, run, done)
