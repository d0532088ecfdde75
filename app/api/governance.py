"""Ruleset governance: drafts, review, four-eyes approval, publishing, rollback, and
the review aids (rule-level diff, static checks, scenario results).

    POST /v1/rulesets/{id}/versions                     author   new draft
    PUT  /v1/rulesets/{id}/versions/{v}                 author   edit a draft
    POST /v1/rulesets/{id}/versions/{v}/submit          author   freeze it for review
    POST /v1/rulesets/{id}/versions/{v}/approve         approve  someone who did not write it
    POST /v1/rulesets/{id}/versions/{v}/reject          approve
    POST /v1/rulesets/{id}/versions/{v}/publish         approve  now, or at effective_at
    POST /v1/rulesets/{id}/versions/{v}/retire          approve
    POST /v1/rulesets/{id}/rollback                     approve
    GET  ... versions, a version, publications, diff    any role

    POST /v1/schemas/{id}/versions                      author   new contract draft
    POST /v1/schemas/{id}/versions/{v}/submit           author
    POST /v1/schemas/{id}/versions/{v}/approve          approve  someone who did not write it
    POST /v1/schemas/{id}/versions/{v}/reject|publish|retire     approve
    GET  /v1/schemas/{id}/versions, a version           any role

The lifecycle rules live in the policy service (app/service/policies.py, contracts.py); this
module turns HTTP into those calls and answers with what they return. After a change
to what is served, this worker reloads at once; the others within the check interval.
"""

from __future__ import annotations

from flask import current_app

from app.api import auth, serving
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.parsing import PolicyJSONParser
from app.api.schemas import (
    ContractRequestSchema,
    ContractVersionDetailSchema,
    ContractVersionListSchema,
    ContractVersionSchema,
    DiffQuerySchema,
    DiffSchema,
    DraftEditSchema,
    DraftRequestSchema,
    PublicationListSchema,
    PublicationSchema,
    PublishRequestSchema,
    RejectRequestSchema,
    RollbackRequestSchema,
    SubmitRequestSchema,
    VersionDetailSchema,
    VersionListSchema,
)
from app.engine.diff import diff_rulesets
from app.service import contracts, policies
from app.store import times
from app.store.errors import PolicyNotFound
from app.store.keys import POLICY_READERS


class PolicyBlueprint(Blueprint):
    ARGUMENTS_PARSER = PolicyJSONParser()


blp = PolicyBlueprint("governance", __name__, url_prefix="/v1",
                      description="Ruleset versions from draft to published, under four eyes; fact contract versions.")

_VERSION = "/rulesets/<string:ruleset_id>/versions/<int:version>"

EXAMPLE_DRAFT = {
    "document": {
        "title": "Card customers overdue elsewhere",
        "owner": "Retail Credit Risk Policy",
        "contract": "retail_card@1",
        "levels": {"green": {"review": "annual"}, "orange": {"review": "monthly"}},
        "review_frequencies": ["annual", "monthly"],
        "actions": {"maintain": {"title": "Maintain current terms"}, "watchlist": {"title": "Add to the watchlist"}},
        "rules": [{"id": "EXT-001", "title": "Two or more accounts overdue at other banks",
                   "when": "credit_report.other_banks.overdue_accounts_6m >= 2",
                   "level": "orange", "actions": ["watchlist"]}],
    },
}


def _summary(version: policies.RulesetVersion, library=None) -> dict:
    library = library if library is not None else serving.loaded()
    current = library.in_effect(version.ruleset_id) if library is not None else None
    return {**version.summary(), "in_effect": current is not None and current.version == version.version}


def _detail(version: policies.RulesetVersion) -> dict:
    return {**_summary(version), "document": version.document, "scenarios": version.scenarios,
            "document_text": version.document_text, "scenarios_text": version.scenarios_text}


def _served_changed() -> None:
    serving.refresh(current_app._get_current_object(), force=True)


# ---------------------------------------------------------------- versions


@blp.route("/rulesets/<string:ruleset_id>/versions", methods=["POST"])
@blp.roles("author")
@blp.arguments(DraftRequestSchema, example=EXAMPLE_DRAFT)
@blp.response(201, VersionDetailSchema, description="The new draft, checked and compiled against its contract.")
@blp.errors(400, 409, 415, 422, 503)
def create_draft(body, ruleset_id):
    """Upload a new draft version of a ruleset (a new ruleset id starts at version 1).

    The document is checked and compiled against its stored contract first; if it has
    any problem the answer is 422 `ruleset_invalid` with every problem (rule, path,
    message) in `details`, and nothing is stored. A ruleset keeps at most 20 drafts open
    (500 in all): past that, 409 `too_many_drafts` (retire one first)."""
    version = policies.create_draft(get_db(), ruleset_id, body["document"], body.get("scenarios"), auth.actor())
    return _detail(version)


@blp.route("/rulesets/<string:ruleset_id>/versions", methods=["GET"])
@blp.roles(*POLICY_READERS)
@blp.response(200, VersionListSchema)
@blp.errors(404, 503)
def list_versions(ruleset_id):
    """Every version of a ruleset, drafts and retired ones included, with its status."""
    versions = policies.list_versions(get_db(), ruleset_id)
    if not versions:
        raise PolicyNotFound(f"No ruleset {ruleset_id!r} is stored.")
    return {"versions": [_summary(v, serving.loaded()) for v in versions]}


@blp.route(_VERSION, methods=["GET"])
@blp.roles(*POLICY_READERS)
@blp.response(200, VersionDetailSchema)
@blp.errors(404, 503)
def get_version(ruleset_id, version):
    """One version: its document and scenarios as stored, status, who did what and when,
    the static-check findings and the scenario results."""
    return _detail(policies.get_version(get_db(), ruleset_id, version))


@blp.route(_VERSION, methods=["PUT"])
@blp.roles("author")
@blp.arguments(DraftEditSchema)
@blp.response(200, VersionDetailSchema, description="The draft with its new content, hash and revision.")
@blp.errors(400, 404, 409, 415, 422, 503)
def edit_draft(body, ruleset_id, version):
    """Replace a draft's content. Only a draft can be edited; whoever edits it joins
    the people who may not approve it.

    Send the `revision` you read as `based_on`: if someone saved the draft in between,
    the answer is 409 `edit_conflict` naming who and when, and nothing is saved."""
    scenarios = body["scenarios"] if "scenarios" in body else policies.KEEP
    return _detail(policies.edit_draft(get_db(), ruleset_id, version, body["document"], auth.actor(),
                                       scenarios=scenarios, based_on=body.get("based_on")))


@blp.route(f"{_VERSION}/submit", methods=["POST"])
@blp.roles("author")
@blp.arguments(SubmitRequestSchema)
@blp.response(200, VersionDetailSchema, description="The submitted version with its findings and scenario results.")
@blp.errors(400, 404, 409, 415, 422, 503)
def submit_version(body, ruleset_id, version):
    """Submit a draft for approval, with an optional `note` for the approver. Its content
    is frozen; the static checks and the scenario tests run now and their results are
    kept with the version."""
    return _detail(policies.submit(get_db(), ruleset_id, version, auth.actor(), note=body.get("note")))


@blp.route(f"{_VERSION}/approve", methods=["POST"])
@blp.roles("approve")
@blp.response(200, VersionDetailSchema)
@blp.errors(404, 409, 422, 503)
def approve_version(ruleset_id, version):
    """Approve a submitted version. Refused with 403 `four_eyes` to anyone who wrote or
    submitted it, and with 422 `approval_refused` if it fails validation or any scenario
    test (both run again now)."""
    approved = policies.approve(get_db(), ruleset_id, version, auth.actor())
    _served_changed()
    return _detail(approved)


@blp.route(f"{_VERSION}/reject", methods=["POST"])
@blp.roles("approve")
@blp.arguments(RejectRequestSchema)
@blp.response(200, VersionDetailSchema)
@blp.errors(400, 404, 409, 415, 422, 503)
def reject_version(body, ruleset_id, version):
    """Reject a submitted version, with the reason. A fix is a new draft."""
    return _detail(policies.reject(get_db(), ruleset_id, version, auth.actor(), body["reason"]))


@blp.route(f"{_VERSION}/publish", methods=["POST"])
@blp.roles("approve")
@blp.arguments(PublishRequestSchema)
@blp.response(201, PublicationSchema, description="The publication: `publish` (now) or `schedule`.")
@blp.errors(400, 404, 409, 415, 422, 503)
def publish_version(body, ruleset_id, version):
    """Publish an approved version now, or schedule it with `effective_at`.

    Every worker serves it within a second or so of its effective time; decisions that
    do not pin a version use it from then on."""
    publication = policies.publish(get_db(), ruleset_id, version, auth.actor(), body.get("effective_at"))
    _served_changed()
    return publication.to_dict()


@blp.route(f"{_VERSION}/retire", methods=["POST"])
@blp.roles("approve")
@blp.response(200, VersionDetailSchema)
@blp.errors(404, 409, 503)
def retire_version(ruleset_id, version):
    """Retire a version: it can no longer be published, pinned or rolled back to. Not the
    version in effect, nor one scheduled to take effect."""
    retired = policies.retire(get_db(), ruleset_id, version, auth.actor())
    _served_changed()
    return _detail(retired)


@blp.route("/rulesets/<string:ruleset_id>/rollback", methods=["POST"])
@blp.roles("approve")
@blp.arguments(RollbackRequestSchema)
@blp.response(201, PublicationSchema, description="The rollback publication, effective now.")
@blp.errors(400, 404, 409, 415, 422, 503)
def rollback(body, ruleset_id):
    """Put an earlier published version back in effect now, as a new publication; by
    default the version in effect before the current one."""
    publication = policies.rollback(get_db(), ruleset_id, auth.actor(), body.get("to_version"))
    _served_changed()
    return publication.to_dict()


@blp.route("/rulesets/<string:ruleset_id>/publications", methods=["GET"])
@blp.roles(*POLICY_READERS)
@blp.response(200, PublicationListSchema)
@blp.errors(503)
def list_publications(ruleset_id):
    """Every publication of a ruleset, scheduled ones included, and the one in effect now."""
    history = policies.list_publications(get_db(), ruleset_id)
    current = policies.in_effect(history, times.now())
    return {"publications": [p.to_dict() for p in history], "in_effect": current.to_dict() if current else None}


@blp.route("/rulesets/<string:ruleset_id>/diff", methods=["GET"])
@blp.roles(*POLICY_READERS)
@blp.arguments(DiffQuerySchema, location="query")
@blp.response(200, DiffSchema)
@blp.errors(404, 422, 503)
def diff(query, ruleset_id):
    """What changed between two versions, rule by rule: rules added, removed and
    changed, with each changed field's text before and after."""
    db = get_db()
    old = policies.get_version(db, ruleset_id, query["from_version"])
    new = policies.get_version(db, ruleset_id, query["to_version"])
    changes = diff_rulesets(old.document, new.document)
    return {"ruleset_id": ruleset_id,
            "base": {"version": old.version, "hash": old.hash, "status": old.status},
            "head": {"version": new.version, "hash": new.hash, "status": new.status},
            **{k: changes[k] for k in ("added", "removed", "changed", "other", "unchanged")}}


# ---------------------------------------------------------------- contracts


_CONTRACT = "/schemas/<string:schema_id>/versions/<int:version>"


def _contract(stored: contracts.ContractVersion, document: bool = False) -> dict:
    out = {"id": stored.contract_id, **{k: v for k, v in stored.summary().items() if k != "contract_id"}}
    if document:
        out["document"] = stored.document
    return out


@blp.route("/schemas/<string:schema_id>/versions", methods=["POST"])
@blp.roles("author")
@blp.arguments(ContractRequestSchema)
@blp.response(201, ContractVersionDetailSchema, description="The new contract version, a draft.")
@blp.errors(400, 409, 415, 422, 503)
def create_contract(body, schema_id):
    """Store a new fact contract version as a draft, numbered one after the last.

    The document is checked strictly first (numbers are numbers within bounds, every
    attribute of its type, a bounded size): any problem is 422 `ruleset_invalid` naming
    the contract, each field path and what is wrong, and nothing is stored. A draft is
    not served: it goes through submit, approve (someone else) and publish like a
    ruleset version. A ruleset draft may name it meanwhile; a ruleset version that names
    it can be approved only once it is published. At most 20 drafts are open per
    contract (500 in all): past that, 409 `too_many_drafts`."""
    return _contract(contracts.create(get_db(), schema_id, body["document"], auth.actor()), document=True)


@blp.route("/schemas/<string:schema_id>/versions", methods=["GET"])
@blp.roles(*POLICY_READERS)
@blp.response(200, ContractVersionListSchema)
@blp.errors(404, 503)
def list_contract_versions(schema_id):
    """Every version of a fact contract, drafts and retired ones included, with its status."""
    versions = contracts.list_contracts(get_db(), schema_id)
    if not versions:
        raise PolicyNotFound(f"No contract {schema_id!r} is stored.")
    return {"versions": [_contract(v) for v in versions]}


@blp.route(_CONTRACT, methods=["GET"])
@blp.roles(*POLICY_READERS)
@blp.response(200, ContractVersionDetailSchema)
@blp.errors(404, 503)
def get_contract_version(schema_id, version):
    """One contract version: its document as stored, its status, who did what and when."""
    return _contract(contracts.get_contract(get_db(), schema_id, version), document=True)


@blp.route(f"{_CONTRACT}/submit", methods=["POST"])
@blp.roles("author")
@blp.arguments(SubmitRequestSchema)
@blp.response(200, ContractVersionSchema)
@blp.errors(400, 404, 409, 415, 422, 503)
def submit_contract(body, schema_id, version):
    """Submit a contract draft for approval, with an optional `note` for the approver."""
    return _contract(contracts.submit(get_db(), schema_id, version, auth.actor(), note=body.get("note")))


@blp.route(f"{_CONTRACT}/approve", methods=["POST"])
@blp.roles("approve")
@blp.response(200, ContractVersionSchema)
@blp.errors(404, 409, 422, 503)
def approve_contract(schema_id, version):
    """Approve a submitted contract version. Refused with 403 `four_eyes` to anyone who
    created or submitted it (or uses a key one of them made), and with 422
    `approval_refused` if it no longer passes the checks (run again now)."""
    return _contract(contracts.approve(get_db(), schema_id, version, auth.actor()))


@blp.route(f"{_CONTRACT}/reject", methods=["POST"])
@blp.roles("approve")
@blp.arguments(RejectRequestSchema)
@blp.response(200, ContractVersionSchema)
@blp.errors(400, 404, 409, 415, 422, 503)
def reject_contract(body, schema_id, version):
    """Reject a submitted contract version, with the reason. A fix is a new version."""
    return _contract(contracts.reject(get_db(), schema_id, version, auth.actor(), body["reason"]))


@blp.route(f"{_CONTRACT}/publish", methods=["POST"])
@blp.roles("approve")
@blp.response(200, ContractVersionSchema)
@blp.errors(404, 409, 503)
def publish_contract(schema_id, version):
    """Publish an approved contract version: serving reads it from now on, and ruleset
    versions that name it can be approved."""
    published = contracts.publish(get_db(), schema_id, version, auth.actor())
    _served_changed()
    return _contract(published)


@blp.route(f"{_CONTRACT}/retire", methods=["POST"])
@blp.roles("approve")
@blp.response(200, ContractVersionSchema)
@blp.errors(404, 409, 503)
def retire_contract(schema_id, version):
    """Retire a contract version. Refused with 409 while an approved or published ruleset
    version names it."""
    retired = contracts.retire(get_db(), schema_id, version, auth.actor())
    _served_changed()
    return _contract(retired)
