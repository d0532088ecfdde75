"""Request and response schemas. They validate requests and generate the OpenAPI
document; success bodies of decisions are built by the views (see decisions.py) and a
test checks them against these schemas."""

from __future__ import annotations

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate

from app.config import DEFAULTS
from app.store.keys import MAX_QUEUE_NAME, MAX_QUEUES, ROLES

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
    ruleset_version = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "Pin an approved or published version; when absent, the version in effect at decision time."})
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                                metadata={"example": "C-100001"})
    snapshot = fields.Dict(required=True, metadata={
        "description": "The fact snapshot; its contract is GET /v1/schemas/{id} of the ruleset's contract."})
    client_request_id = fields.String(validate=validate.Length(min=1, max=128), metadata={
        "description": "Sent again with the same request, returns the first decision instead of a new one."})
    explain = fields.String(load_default="summary", validate=validate.OneOf(EXPLAIN), metadata={
        "description": "`full` adds the rules that did not fire and the condition that failed."})

    def load(self, data, *, many=None, partial=None, unknown=None):
        """A request that plainly fits (the common case) is taken as it is, without
        walking the fields; anything else goes through them, which name what is wrong.
        Both give the same item for the same request (tests/api/test_request_schema.py)."""
        if many is None and partial is None and unknown in (None, RAISE):
            item = plain_decision_request(data)
            if item is not None:
                return item
        return super().load(data, many=many, partial=partial, unknown=unknown)


_REQUEST_KEYS = frozenset(DecisionRequestSchema._declared_fields)


def _name(value) -> bool:
    return type(value) is str and 0 < len(value) <= 128


def plain_decision_request(data) -> dict | None:
    """``data`` as DecisionRequestSchema loads it when every field is plainly valid
    (known keys, the right types, lengths and values); None when the fields must look."""
    if type(data) is not dict or not data.keys() <= _REQUEST_KEYS:
        return None
    snapshot = data.get("snapshot")
    if type(snapshot) is not dict or not _name(data.get("ruleset_id")) or not _name(data.get("customer_id")):
        return None
    item = dict(data)
    item["snapshot"] = dict(snapshot)
    if "ruleset_version" in data:
        version = data["ruleset_version"]
        if type(version) is not int or version < 1:
            return None
    if "client_request_id" in data and not _name(data["client_request_id"]):
        return None
    explain = data.get("explain", "summary")
    if explain not in EXPLAIN or type(explain) is not str:
        return None
    item["explain"] = explain
    return item


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


class DataFindingSchema(Schema):
    field = fields.String(required=True, metadata={"description": "The snapshot field, as a dotted path."})
    value = fields.Raw(required=True, metadata={
        "description": "The value sent (a keyed hash when personal fields are masked)."})
    expectation = fields.String(required=True, metadata={
        "description": "What the contract declares plausible, e.g. `between 0 and 2`."})


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
    data_quality = fields.List(fields.Nested(DataFindingSchema), required=True, metadata={
        "description": "Valid values that fail their field's plausibility check: the rules read them as missing."})
    trail = fields.List(fields.Nested(FiringSchema), required=True)
    not_fired = fields.List(fields.Nested(NotFiredSchema), metadata={"description": "Only with explain=full."})
    explain = fields.String(required=True, validate=validate.OneOf(EXPLAIN))
    timing = fields.Nested(TimingSchema, required=True)


class BatchItem(fields.Raw):
    """One DecisionRequest. Loaded one by one in the view, so a bad item fails alone."""


class BatchRequestSchema(Schema):
    # Read one by one: an item with a number out of range or a text that is not Unicode
    # fails alone (app/api/parsing.py).
    items_one_by_one = "items"
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
    status = fields.String(allow_none=True, metadata={"description": "`approved` or `published`."})
    in_effect = fields.Boolean(metadata={"description": "The version decisions use when none is pinned."})


class RulesetListSchema(Schema):
    rulesets = fields.List(fields.Nested(RulesetSummarySchema), required=True)


class RulesetDetailSchema(RulesetSummarySchema):
    versions = fields.List(fields.Integer(), required=True,
                           metadata={"description": "Every servable (approved or published) version."})
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


class RootSchema(Schema):
    service = fields.String(required=True)
    docs = fields.String(required=True, metadata={"description": "The API docs (Swagger UI), for people."})
    openapi = fields.String(required=True, metadata={"description": "The OpenAPI document, for client generators."})
    console = fields.String(metadata={"description": "The web console for policy staff, when it is served."})


class HealthSchema(Schema):
    status = fields.String(required=True)


class FailedVersionSchema(Schema):
    version = fields.String(required=True, metadata={"description": "`ruleset:id@version` or `contract:id@version`."})
    problems = fields.List(fields.Dict(), required=True, metadata={"description": "Why it could not be loaded."})


class ReadySchema(Schema):
    status = fields.String(required=True, metadata={
        "description": "`ready`, or `degraded` when some stored versions could not be loaded (listed in `failed`): "
                       "the others are served."})
    rulesets = fields.Integer(required=True, metadata={"description": "Ruleset versions loaded."})
    failed = fields.List(fields.Nested(FailedVersionSchema), required=True, metadata={
        "description": "Approved or published versions (and contracts) that could not be loaded and are not served."})
    personal_fields = fields.String(required=True, metadata={
        "description": "`masked` (logged as keyed hashes) or `clear` (logged, indexed and exported as sent)."})
    notes = fields.List(fields.String(), required=True, metadata={"description": "What an operator should know."})


# ---------------------------------------------------------------- governance


class DocumentField(fields.Raw):
    """A YAML document: as a JSON object, or as the YAML text itself."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict | str):
            raise ValidationError("Send the document as a JSON object or as YAML text.")
        if isinstance(value, str) and not value.strip():
            raise ValidationError("The document is empty.")
        return value


def document2properties(self, field, **kwargs):
    if isinstance(field, DocumentField):
        return {"oneOf": [{"type": "object"}, {"type": "string", "minLength": 1}]}
    return {}


class DraftRequestSchema(Schema):
    document = DocumentField(required=True, metadata={
        "description": "The ruleset document (docs/policy-language.md). Its `id` must be the ruleset id in the "
                       "path (or be left out); its `version` is set by the server."})
    scenarios = DocumentField(allow_none=True, metadata={
        "description": "Its scenario tests (the `<id>.scenarios.yaml` format), run on submit and on approval. "
                       "On an edit: left out keeps the draft's scenarios, null removes them."})


class DraftEditSchema(DraftRequestSchema):
    based_on = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "The draft's `revision` this content was written from (as read with GET). If the draft "
                       "was saved by anyone since, the answer is 409 `edit_conflict` and nothing is saved; "
                       "left out, the edit replaces whatever is stored."})


class ContractRequestSchema(Schema):
    document = DocumentField(required=True, metadata={
        "description": "The fact contract document; its `version` is set by the server."})


class SubmitRequestSchema(Schema):
    note = fields.String(validate=validate.Length(min=1, max=2000), metadata={
        "description": "For the approver: what changed and why. Kept in the audit event of the submission. "
                       "Leave the body empty, or this out, to submit without one."})


class RejectRequestSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                           metadata={"description": "Why, for the author and the record."})


class PublishRequestSchema(Schema):
    effective_at = fields.AwareDateTime(metadata={
        "description": "When it takes effect (ISO 8601 with a time zone, in the future). Leave the body empty, "
                       "or this out, to publish now."})


class RollbackRequestSchema(Schema):
    to_version = fields.Integer(strict=True, validate=validate.Range(min=1, max=2 ** 31), metadata={
        "description": "An earlier published version; by default the one in effect before the current one."})


class FindingSchema(Open):
    check = fields.String(required=True, metadata={
        "description": "`never_fires`, `duplicate`, `shadowed`, `conflicting_action` or `unused_signal`."})
    message = fields.String(required=True)
    rule = fields.String()
    related = fields.List(fields.String())


class ScenarioOutcomeSchema(Open):
    name = fields.String(required=True)
    passed = fields.Boolean(required=True)
    diffs = fields.List(fields.String(), required=True)


class ScenarioResultsSchema(Open):
    passed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    results = fields.List(fields.Nested(ScenarioOutcomeSchema), required=True)
    unfired_rules = fields.List(fields.String(), required=True, metadata={"description": "Rules no scenario fires."})


class ContractNumberSchema(Schema):
    id = fields.String(required=True)
    version = fields.Integer(required=True)


class VersionSummarySchema(Schema):
    ruleset_id = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={
        "description": "`draft`, `submitted`, `approved`, `published`, `rejected` or `retired`."})
    hash = fields.String(required=True)
    title = fields.String(allow_none=True)
    contract = fields.Nested(ContractNumberSchema, required=True)
    in_effect = fields.Boolean(required=True)
    contributors = fields.List(fields.String(), required=True, metadata={
        "description": "Who wrote the content: none of them may approve it."})
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
    updated_by = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    revision = fields.String(required=True, metadata={
        "description": "Changes with every save of a draft: send it back as `based_on` when editing."})
    submitted_by = fields.String(allow_none=True)
    submitted_at = fields.String(allow_none=True)
    approved_by = fields.String(allow_none=True)
    approved_at = fields.String(allow_none=True)
    rejected_by = fields.String(allow_none=True)
    rejected_at = fields.String(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    retired_by = fields.String(allow_none=True)
    retired_at = fields.String(allow_none=True)
    findings = fields.List(fields.Nested(FindingSchema), allow_none=True, metadata={
        "description": "Static checks, run on submit."})
    scenario_results = fields.Nested(ScenarioResultsSchema, allow_none=True, metadata={
        "description": "The scenario tests, run on submit and again on approval."})


class VersionDetailSchema(VersionSummarySchema):
    document = fields.Dict(required=True, metadata={"description": "The ruleset document as stored."})
    scenarios = fields.Dict(allow_none=True, metadata={"description": "Its scenario tests as stored."})
    document_text = fields.String(allow_none=True, metadata={
        "description": "The document as its author wrote it, comments kept (its `version:` set to this "
                       "version), when it was sent as YAML text; null when it was sent as a JSON object."})
    scenarios_text = fields.String(allow_none=True, metadata={
        "description": "The scenarios as written, likewise."})


class VersionListSchema(Schema):
    versions = fields.List(fields.Nested(VersionSummarySchema), required=True)


class PublicationSchema(Schema):
    seq = fields.Integer(required=True)
    ruleset_id = fields.String(required=True)
    version = fields.Integer(required=True)
    hash = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "`publish`, `schedule` or `rollback`."})
    effective_at = fields.String(required=True)
    published_by = fields.String(required=True)
    published_at = fields.String(required=True)


class PublicationListSchema(Schema):
    publications = fields.List(fields.Nested(PublicationSchema), required=True, metadata={
        "description": "In the order they take effect."})
    in_effect = fields.Nested(PublicationSchema, allow_none=True, required=True)


class DiffQuerySchema(Schema):
    from_version = fields.Integer(required=True, data_key="from", validate=validate.Range(min=1, max=2 ** 31),
                                  metadata={"example": 1})
    to_version = fields.Integer(required=True, data_key="to", validate=validate.Range(min=1, max=2 ** 31),
                                metadata={"example": 1})


class DiffSideSchema(Schema):
    version = fields.Integer(required=True)
    hash = fields.String(required=True)
    status = fields.String(required=True)


class DiffSchema(Open):
    ruleset_id = fields.String(required=True)
    base = fields.Nested(DiffSideSchema, data_key="from", required=True)
    head = fields.Nested(DiffSideSchema, data_key="to", required=True)
    added = fields.List(fields.Dict(), required=True, metadata={"description": "Rules only in `to`."})
    removed = fields.List(fields.Dict(), required=True, metadata={"description": "Rules only in `from`."})
    changed = fields.List(fields.Dict(), required=True, metadata={
        "description": "Rules in both that differ: each changed field (`when`, `actions` ...) before and after."})
    other = fields.Dict(required=True, metadata={"description": "Changes outside the rules (actions, levels ...)."})
    unchanged = fields.Integer(required=True)


class ContractVersionSchema(Schema):
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    hash = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "`draft`, `submitted`, `approved`, `published`, `rejected` or `retired`; serving reads "
                       "only published versions."})
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
    submitted_by = fields.String(allow_none=True)
    submitted_at = fields.String(allow_none=True)
    approved_by = fields.String(allow_none=True)
    approved_at = fields.String(allow_none=True)
    rejected_by = fields.String(allow_none=True)
    rejected_at = fields.String(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    published_by = fields.String(allow_none=True)
    published_at = fields.String(allow_none=True)
    retired_by = fields.String(allow_none=True)
    retired_at = fields.String(allow_none=True)


class ContractVersionDetailSchema(ContractVersionSchema):
    document = fields.Dict(required=True, metadata={"description": "The contract document as stored."})


class ContractVersionListSchema(Schema):
    versions = fields.List(fields.Nested(ContractVersionSchema), required=True)


# ---------------------------------------------------------------- audit


class AuditQuerySchema(Schema):
    actor = fields.String(metadata={"description": "The person who acted."})
    action = fields.String(metadata={
        "description": "An action (`version.approve`), or every action under a prefix ending in a dot (`version.`)."})
    target = fields.String(metadata={
        "description": "`ruleset:retail_card` (every version of it), `ruleset:retail_card@2`, `key:<key id>` ..."})
    since = fields.AwareDateTime(metadata={"description": "Events at or after this time."})
    until = fields.AwareDateTime(metadata={"description": "Events before this time."})
    cursor = fields.String(validate=validate.Length(max=32), metadata={
        "description": "The `next_cursor` of the page before."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class AuditEventSchema(Schema):
    seq = fields.Integer(required=True)
    id = fields.String(required=True)
    at = fields.String(required=True)
    actor = fields.String(required=True)
    key_id = fields.String(allow_none=True, required=True)
    action = fields.String(required=True)
    target = fields.String(required=True)
    hash_before = fields.String(allow_none=True, required=True)
    hash_after = fields.String(allow_none=True, required=True)
    details = fields.Dict(required=True)
    chain_hash = fields.String(allow_none=True, required=True, metadata={
        "description": "Links this event to the one before (see `GET /v1/decisions/verify`)."})


class AuditPageSchema(Schema):
    events = fields.List(fields.Nested(AuditEventSchema), required=True, metadata={"description": "Oldest first."})
    next_cursor = fields.String(allow_none=True, required=True, metadata={
        "description": "Pass it as `cursor` for the next page; null on the last page."})


# ---------------------------------------------------------------- keys


def queue_list(description: str, **kwargs) -> fields.List:
    """The follow-up queues an officer's key works, as the store bounds them."""
    return fields.List(fields.String(validate=validate.Length(min=1, max=MAX_QUEUE_NAME)),
                       validate=validate.Length(max=MAX_QUEUES),
                       metadata={"description": description, "example": ["branch:0101"]}, **kwargs)


class KeyRequestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"description": "What the key is for.", "example": "card-system-prod"})
    owner = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={
        "description": "The person it acts as; four eyes compare owners, not keys.", "example": "ana.ortiz"})
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(min=1, max=len(ROLES)), metadata={"example": ["decide"]})
    queues = queue_list("For an officer's key: the follow-up queues its holder works (`branch:<code>`, or the "
                        "default queue). The officer sees the open tasks waiting there and may claim them.")


class KeyQueuesSchema(Schema):
    queues = queue_list("The follow-up queues the officer works from now on; [] for none.", required=True)


class KeySchema(Schema):
    key_id = fields.String(required=True)
    name = fields.String(required=True)
    owner = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    queues = fields.List(fields.String(), required=True, metadata={"description": "The follow-up queues it works."})
    active = fields.Boolean(required=True)
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
    revoked_by = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)


class NewKeySchema(KeySchema):
    key = fields.String(required=True, metadata={
        "description": "The key to send as `Authorization: Bearer <key>`. Shown this once: only its hash is kept."})


class KeyListSchema(Schema):
    keys = fields.List(fields.Nested(KeySchema), required=True)


# ---------------------------------------------------------------- the decision log, for compliance


LEVEL_EXAMPLE = "orange"


_NEEDS_ZONE = ("Not a date and time with a time zone: give ISO 8601 with Z or an offset, "
               "e.g. 2026-04-01T00:00:00Z or 2026-04-01T00:00:00+02:00.")


class DecisionFilterSchema(Schema):
    customer_id = fields.String(validate=validate.Length(min=1, max=128))
    from_ = fields.AwareDateTime(data_key="from", error_messages={"invalid": _NEEDS_ZONE, "invalid_awareness": _NEEDS_ZONE}, metadata={
        "description": "Decided at or after this time: ISO 8601 with a time zone, e.g. `2026-04-01T00:00:00Z`.",
        "example": "2026-04-01T00:00:00Z"})
    to = fields.AwareDateTime(error_messages={"invalid": _NEEDS_ZONE, "invalid_awareness": _NEEDS_ZONE}, metadata={
        "description": "Decided before this time: ISO 8601 with a time zone, e.g. `2026-05-01T00:00:00+02:00`.",
        "example": "2026-05-01T00:00:00Z"})
    ruleset_id = fields.String(validate=validate.Length(min=1, max=128))
    ruleset_version = fields.Integer(strict=False, validate=validate.Range(min=1, max=2 ** 31))
    rule = fields.String(validate=validate.Length(min=1, max=128), metadata={"description": "A rule that fired."})
    action = fields.String(validate=validate.Length(min=1, max=128), metadata={"description": "A final action."})
    level = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "The warning level.", "example": LEVEL_EXAMPLE})
    q = fields.String(validate=validate.Length(min=1, max=500), metadata={
        "description": "Words of the explanation (every word must occur; no search syntax)."})


class DecisionQuerySchema(DecisionFilterSchema):
    cursor = fields.String(validate=validate.Length(max=64), metadata={"description": "The `next_cursor` of the page before."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))


class ExportQuerySchema(DecisionFilterSchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "jsonl")), metadata={
        "description": "`csv` or `jsonl` (JSON Lines, with each decision's result, trail and snapshot)."})


class DecisionSummarySchema(Schema):
    seq = fields.Integer(required=True, metadata={"description": "Its place in the log."})
    decision_id = fields.String(required=True)
    decided_at = fields.String(required=True)
    customer_id = fields.String(required=True, allow_none=True, metadata={"description": "Null once purged."})
    ruleset = fields.Nested(RulesetRefSchema, required=True)
    level = fields.String(required=True, allow_none=True)
    review_frequency = fields.String(required=True, allow_none=True)
    actions = fields.List(fields.Dict(), required=True, allow_none=True, metadata={"description": "Null once purged."})
    fired = fields.List(fields.String(), required=True, allow_none=True)
    purged_at = fields.String(required=True, allow_none=True)


class IndexCoverageSchema(Schema):
    indexed_through = fields.Integer(required=True, metadata={
        "description": "Every decision up to this seq is searchable by rule, action and words."})
    newest = fields.Integer(required=True, metadata={"description": "The newest decision's seq when searched."})
    complete = fields.Boolean(required=True, metadata={
        "description": "False: the decisions after `indexed_through` were not searched by rule, action or "
                       "words yet (each search indexes more; search again)."})


class DecisionPageSchema(Schema):
    decisions = fields.List(fields.Nested(DecisionSummarySchema), required=True, metadata={"description": "Newest first."})
    next_cursor = fields.String(allow_none=True, required=True, metadata={
        "description": "Pass it as `cursor` for the next page; null on the last page."})
    index = fields.Nested(IndexCoverageSchema, required=True, allow_none=True, metadata={
        "description": "For a search by `rule`, `action` or `q`: how far the index it reads reaches. "
                       "Null for other searches, which read the log itself."})


class HeadSchema(Schema):
    seq = fields.Integer(required=True, metadata={"description": "The last record's seq (0 for an empty log)."})
    chain_hash = fields.String(required=True, metadata={"description": "Its chain hash."})
    count = fields.Integer(required=True, metadata={"description": "Records up to it."})
    at = fields.String(required=True, metadata={"description": "When the head was read."})
    audit_seq = fields.Integer(metadata={"description": "The last audit event's seq (0 when there is none)."})
    audit_chain_hash = fields.String(metadata={"description": "Its chain hash."})


class VerifyQuerySchema(Schema):
    head_seq = fields.Integer(strict=False, validate=validate.Range(min=0, max=2 ** 62), metadata={
        "description": "An exported head's `seq`: check that the log still reaches it unchanged."})
    head_chain_hash = fields.String(validate=validate.Regexp(r"[0-9a-fA-F]{64}\Z"), metadata={
        "description": "That head's `chain_hash` (with `head_seq`)."})
    head_count = fields.Integer(strict=False, validate=validate.Range(min=0, max=2 ** 62), metadata={
        "description": "That head's `count` (optional)."})
    head_audit_seq = fields.Integer(strict=False, validate=validate.Range(min=0, max=2 ** 62), metadata={
        "description": "That head's `audit_seq` (optional): check the audit events still reach it unchanged."})
    head_audit_chain_hash = fields.String(validate=validate.Regexp(r"[0-9a-fA-F]{64}\Z"), metadata={
        "description": "That head's `audit_chain_hash` (with `head_audit_seq`)."})


class BreakSchema(Schema):
    kind = fields.String(required=True, metadata={
        "description": "`edited`, `deleted`, `inserted`, `reordered` or `truncated`."})
    seq = fields.Integer(required=True)
    decision_id = fields.String(required=True, allow_none=True)
    message = fields.String(required=True)
    related_seq = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The other record involved (the one swapped with, the first one missing ...)."})


class AuditBreakSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "`edited`, `deleted`, `inserted` or `truncated`."})
    seq = fields.Integer(required=True)
    event_id = fields.String(required=True, allow_none=True)
    message = fields.String(required=True)


class AuditVerificationSchema(Schema):
    ok = fields.Boolean(required=True)
    checked = fields.Integer(required=True, metadata={"description": "Audit events checked before the first broken one."})
    last_seq = fields.Integer(required=True, metadata={"description": "The last audit event that links."})
    problem = fields.Nested(AuditBreakSchema, required=True, allow_none=True, metadata={
        "description": "The first broken audit event and how it broke."})


class VerificationSchema(Schema):
    ok = fields.Boolean(required=True, metadata={"description": "The decisions and the audit events both intact."})
    checked = fields.Integer(required=True, metadata={"description": "Records checked before the first broken one."})
    purged = fields.Integer(required=True, metadata={"description": "Of those, purged records (still linked)."})
    head = fields.Nested(HeadSchema, required=True, metadata={"description": "The log's head now."})
    problem = fields.Nested(BreakSchema, required=True, allow_none=True, metadata={
        "description": "The first broken record and how it broke."})
    against_head = fields.Dict(required=True, allow_none=True, metadata={
        "description": "The exported head checked against, when one was given, and whether the log reaches it."})
    audit_events = fields.Nested(AuditVerificationSchema, required=True, metadata={
        "description": "The audit events' hash chain, checked the same way."})


class ExplanationSchema(Schema):
    decision_id = fields.String(required=True)
    decided_at = fields.String(required=True)
    customer_id = fields.String(required=True)
    ruleset = fields.Nested(RulesetRefSchema, required=True)
    thresholds_from = fields.String(required=True, metadata={
        "description": "`ruleset`: each rule's condition read again from the version it was made under, with its "
                       "thresholds; `trail`: the values as the trail logged them (masked snapshot, changed version)."})
    paragraphs = fields.List(fields.String(), required=True, metadata={"description": "The narrative, to read."})
    level = fields.Dict(required=True)
    review_frequency = fields.Dict(required=True)
    actions = fields.List(fields.Dict(), required=True, metadata={
        "description": "Each final action with the rules behind it (clause, facts: value, threshold, what would "
                       "have avoided it) and the rules whose signals they relied on, in firing order."})
    overridden = fields.List(fields.Dict(), required=True)
    data_quality = fields.List(fields.Nested(DataFindingSchema), required=True, metadata={
        "description": "The values that failed their plausibility check, read as missing by the rules."})
    trail = fields.List(fields.Dict(), required=True, metadata={
        "description": "The machine trail, exactly as logged (see `trail` of a decision)."})


class ReplayRequestSchema(Schema):
    snapshot = fields.Dict(metadata={
        "description": "For a masked decision: the original snapshot, which must mask to the logged one."})


class ReplaySchema(Schema):
    decision_id = fields.String(required=True)
    ruleset = fields.Dict(required=True, metadata={
        "description": "id, version, the hash logged with the decision, the hash stored for the version now and the "
                       "hash it compiles to."})
    masked = fields.Boolean(required=True)
    identical = fields.Boolean(required=True, allow_none=True, metadata={
        "description": "Null when the decision could not be replayed, or when it differs and was made under other "
                       "evaluation semantics (see notes)."})
    diff = fields.Dict(required=True, metadata={"description": "Each part that differs: logged and replayed."})
    notes = fields.List(fields.String(), required=True)
    logged = fields.Dict(required=True)
    replayed = fields.Dict(required=True, allow_none=True)
    semantics = fields.Dict(required=True, metadata={
        "description": "`logged`: the version of the engine's evaluation semantics the decision was made under; "
                       "`engine`: this engine's."})


class HoldRequestSchema(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000), metadata={
        "example": "complaint 2026-118: limit cut disputed"})


class HoldReleaseSchema(Schema):
    reason = fields.String(validate=validate.Length(min=1, max=1000))


class HoldQuerySchema(Schema):
    customer_id = fields.String(validate=validate.Length(min=1, max=128))
    all = fields.Boolean(load_default=False, metadata={"description": "Released holds too."})


class HoldSchema(Schema):
    hold_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    reason = fields.String(required=True)
    placed_by = fields.String(required=True)
    placed_at = fields.String(required=True)
    released_by = fields.String(required=True, allow_none=True)
    released_at = fields.String(required=True, allow_none=True)
    release_reason = fields.String(required=True, allow_none=True)
    active = fields.Boolean(required=True)


class HoldListSchema(Schema):
    holds = fields.List(fields.Nested(HoldSchema), required=True)
