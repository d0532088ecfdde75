"""What is served: rulesets and the fact contracts (schemas) they read."""

from __future__ import annotations

from app.api.blueprint import Blueprint
from app.api.serving import library as _library
from app.store.keys import POLICY_READERS
from app.api.schemas import (
    ContractDetailSchema,
    ContractListSchema,
    RulesetDetailSchema,
    RulesetListSchema,
    VersionQuerySchema,
)

rulesets_blp = Blueprint("rulesets", __name__, url_prefix="/v1/rulesets",
                         description="The post-loan rulesets this service decides with, and their governance.")
schemas_blp = Blueprint("schemas", __name__, url_prefix="/v1/schemas",
                        description="The fact contracts: what a snapshot must hold for each ruleset.")


# Reading what is served is open to every role.
ANY_ROLE = POLICY_READERS


def _contract_ref(contract) -> dict:
    return {"id": contract.id, "version": contract.version, "hash": contract.hash}


def _ruleset_summary(ruleset, library) -> dict:
    current = library.in_effect(ruleset.id)
    return {"id": ruleset.id, "version": ruleset.version, "hash": ruleset.hash, "title": ruleset.title,
            "owner": ruleset.owner, "contract": _contract_ref(ruleset.contract),
            "status": library.status(ruleset.id, ruleset.version),
            "in_effect": current is not None and current.version == ruleset.version}


def _contract_summary(contract) -> dict:
    return {"id": contract.id, "version": contract.version, "hash": contract.hash, "title": contract.title}


@rulesets_blp.route("", methods=["GET"])
@rulesets_blp.roles(*ANY_ROLE)
@rulesets_blp.response(200, RulesetListSchema)
@rulesets_blp.errors(503)
def list_rulesets():
    """Every servable ruleset version: approved or published, and which is in effect.

    Drafts and versions under review are listed by GET /v1/rulesets/{ruleset_id}/versions."""
    library = _library()
    rulesets = sorted(library.rulesets(), key=lambda r: (r.id, r.version))
    return {"rulesets": [_ruleset_summary(r, library) for r in rulesets]}


@rulesets_blp.route("/<string:ruleset_id>", methods=["GET"])
@rulesets_blp.roles(*ANY_ROLE)
@rulesets_blp.arguments(VersionQuerySchema, location="query")
@rulesets_blp.response(200, RulesetDetailSchema)
@rulesets_blp.errors(404, 422, 503)
def get_ruleset(query, ruleset_id):
    """One ruleset: the version in effect now, or the servable version asked for."""
    library = _library()
    ruleset = library.ruleset(ruleset_id, query.get("version"))
    versions = sorted(r.version for r in library.rulesets() if r.id == ruleset_id)
    return {**_ruleset_summary(ruleset, library), "versions": versions, "definition": ruleset.describe()}


@schemas_blp.route("", methods=["GET"])
@schemas_blp.roles(*ANY_ROLE)
@schemas_blp.response(200, ContractListSchema)
@schemas_blp.errors(503)
def list_schemas():
    """Every stored fact contract version."""
    contracts = sorted(_library().contracts(), key=lambda c: (c.id, c.version))
    return {"schemas": [_contract_summary(c) for c in contracts]}


@schemas_blp.route("/<string:schema_id>", methods=["GET"])
@schemas_blp.roles(*ANY_ROLE)
@schemas_blp.arguments(VersionQuerySchema, location="query")
@schemas_blp.response(200, ContractDetailSchema)
@schemas_blp.errors(404, 422, 503)
def get_schema(query, schema_id):
    """One fact contract: what a snapshot must hold, field by field."""
    library = _library()
    contract = library.contract(schema_id, query.get("version"))
    versions = sorted(c.version for c in library.contracts() if c.id == schema_id)
    return {**_contract_summary(contract), "versions": versions,
            "personal_paths": list(contract.personal_paths()), "definition": contract.describe()}
