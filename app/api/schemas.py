"""Request and response schemas. They validate requests and generate the OpenAPI
document; success bodies of decisions are built by the views (see decisions.py) and a
test checks them against these schemas."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.config import DEFAULTS

EXPLAIN = ("summary", "full")


class Open(Schema):
    """Objects whose inner shape belongs to the engine or to a ruleset: documented,
    but a new key from the engine does not break the document."""

    class Meta:
        unknown = INCLUDE


# ---------------------------------------------------------------- errors


class ErrorDetailSchema(Open):
    path = fields.String(metadata={"description": "Dotted path of the bad field, when there is one."})
    message = fields.String(required=True)


class ErrorSchema(Schema):
    status = fields.Integer(required=True, metadata={"description": "The HTTP status, repeated."})
    reason = fields.String(required=True, metadata={"description": "Stable machine-readable reason."})
    message = fields.String(required=True, metadata={"description": "For people."})
    details = fields.List(fields.Nested(ErrorDetailSchema), required=True)


class ErrorEnvelopeSchema(Schema):
    error = fields.Nested(ErrorSchema, required=True)
    request_id = fields.String(required=True, allow_none=True)


# ---------------------------------------------------------------- decisions


class DecisionRequestSchema(Schema):
    ruleset_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                               metadata={"example": "retail_card"})
    ruleset_version = fields.Integer(strict=True, validate=validate.Range(min=1),
                                     metadata={"description": "Pin a version; the newest when absent."})
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                                metadata={"example": "C-100001"})
    snapshot = fields.Dict(required=True, metadata={
        "description": "The fact snapshot; its contract is GET /v1/schemas/{id} of the ruleset's contract."})
    client_request_id = fields.String(validate=validate.Length(min=1, max=128), metadata={
        "description": "Sent again with the same request, returns the first decision instead of a new one."})
    explain = fields.String(load_default="summary", validate=validate.OneOf(EXPLAIN), metadata={
        "description": "`full` adds the rules that did not fire and the condition that failed."})


class RulesetRefSchema(Schema):
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    hash = fields.String(required=True)


class ActionSchema(Open):
    action = fields.String(required=True)
    title = fields.String()
    params = fields.Dict()
    adverse = fields.Boolean()
    rules = fields.List(fields.String(), required=True, metadata={"description": "The rules behind it."})
    reason = fields.String(allow_none=True)


class OverriddenSchema(Open):
    action = fields.String(required=True)
    params = fields.Dict()
    rules = fields.List(fields.String())
    by = fields.String()
    by_rules = fields.List(fields.String())


class FiringSchema(Open):
    order = fields.Integer(required=True)
    rule = fields.String(required=True)
    title = fields.String(allow_none=True)
    clause = fields.String(allow_none=True)
    priority = fields.Integer()
    condition = fields.String()
    values = fields.Dict(metadata={"description": "The values the condition read, by path."})
    signals = fields.List(fields.String())
    used_by = fields.List(fields.String())
    actions = fields.List(fields.Raw())
    level = fields.String(allow_none=True)
    review = fields.String(allow_none=True)


class NotFiredSchema(Open):
    rule = fields.String(required=True)
    title = fields.String(allow_none=True)
    clause = fields.String(allow_none=True)
    condition = fields.String(allow_none=True)
    failed = fields.Raw(allow_none=True)


class TimingSchema(Schema):
    evaluation_ms = fields.Float(required=True, metadata={"description": "Validating and evaluating the snapshot."})
    total_ms = fields.Float(required=True, metadata={"description": "From the request arriving to the decision being ready to log."})


class DecisionSchema(Schema):
    decision_id = fields.String(required=True)
    decided_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601."})
    customer_id = fields.String(required=True)
    client_request_id = fields.String(required=True, allow_none=True)
    ruleset = fields.Nested(RulesetRefSchema, required=True)
    level = fields.String(required=True, allow_none=True, metadata={"description": "Early-warning level."})
    review_frequency = fields.String(required=True, allow_none=True)
    actions = fields.List(fields.Nested(ActionSchema), required=True)
    overridden = fields.List(fields.Nested(OverriddenSchema), required=True)
    signals = fields.List(fields.String(), required=True)
    fired = fields.List(fields.String(), required=True)
    trail = fields.List(fields.Nested(FiringSchema), required=True)
    not_fired = fields.List(fields.Nested(NotFiredSchema), metadata={"description": "Only with explain=full."})
    explain = fields.String(required=True, validate=validate.OneOf(EXPLAIN))
    timing = fields.Nested(TimingSchema, required=True)


class BatchItem(fields.Raw):
    """One DecisionRequest. Loaded one by one in the view, so a bad item fails alone."""


class BatchRequestSchema(Schema):
    items = fields.List(BatchItem(), required=True, validate=validate.Length(min=1), metadata={
        "description": f"At most VIGIL_BATCH_LIMIT items (default {DEFAULTS['VIGIL_BATCH_LIMIT']})."})


class BatchResultSchema(Schema):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True, metadata={"description": "200, or the status this item alone would have got."})
    decision = fields.Nested(DecisionSchema)
    error = fields.Nested(ErrorSchema)


class BatchResponseSchema(Schema):
    results = fields.List(fields.Nested(BatchResultSchema), required=True)
    decided = fields.Integer(required=True)
    failed = fields.Integer(required=True)


def batch_item2properties(self, field, **kwargs):
    if isinstance(field, BatchItem):
        return {"allOf": [{"$ref": "#/components/schemas/DecisionRequest"}]}
    return {}


# ---------------------------------------------------------------- rulesets and schemas


class ContractRefSchema(Schema):
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    hash = fields.String(required=True)


class RulesetSummarySchema(Schema):
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    hash = fields.String(required=True)
    title = fields.String(allow_none=True)
    owner = fields.String(allow_none=True)
    contract = fields.Nested(ContractRefSchema, required=True)


class RulesetListSchema(Schema):
    rulesets = fields.List(fields.Nested(RulesetSummarySchema), required=True)


class RulesetDetailSchema(RulesetSummarySchema):
    versions = fields.List(fields.Integer(), required=True, metadata={"description": "Every loaded version."})
    definition = fields.Dict(required=True, metadata={"description": "The ruleset as the engine loaded it."})


class ContractSummarySchema(Schema):
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    hash = fields.String(required=True)
    title = fields.String(allow_none=True)


class ContractListSchema(Schema):
    schemas = fields.List(fields.Nested(ContractSummarySchema), required=True)


class ContractDetailSchema(ContractSummarySchema):
    versions = fields.List(fields.Integer(), required=True)
    personal_paths = fields.List(fields.String(), required=True,
                                 metadata={"description": "Fields holding personal data."})
    definition = fields.Dict(required=True, metadata={"description": "What the contract expects, field by field."})


class VersionQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1), metadata={"description": "The newest when absent."})


# ---------------------------------------------------------------- operations


class HealthSchema(Schema):
    status = fields.String(required=True)


class ReadySchema(Schema):
    status = fields.String(required=True)
    rulesets = fields.Integer(required=True, metadata={"description": "Ruleset versions loaded."})
