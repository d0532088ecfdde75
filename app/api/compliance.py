"""The decision log for compliance: search, export, explanation, replay, the chain's head
and its verification.

Every read is itself an audit event (``decision.search``, ``decision.export``,
``decision.explain``, ``decision.replay``, ``decision.verify``, ``decision.head``), with who
read and what: the filters, the decisions returned, the counts. It is recorded before
anything is answered, so nothing is read without its record.
"""

from __future__ import annotations

from flask import Response, current_app, g, stream_with_context

from app.api import auth
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.parsing import OptionalJSONParser
from app.api.schemas import (
    DecisionPageSchema,
    DecisionQuerySchema,
    ExplanationSchema,
    ExportQuerySchema,
    HeadSchema,
    ReplayRequestSchema,
    ReplaySchema,
    VerificationSchema,
    VerifyQuerySchema,
)
from app.service import log_search as search
from app.service import replay
from app.store import chain, times
from app.store.audit import record_event

class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = OptionalJSONParser()


blp = _Blueprint("decision-log", __name__, url_prefix="/v1/decisions",
                description="The decision log, for compliance: search, export, explain, replay and verify it. "
                            "Every read is an audit event.")

_MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


def filters_from(query: dict) -> search.Filters:
    return search.Filters(
        customer_id=query.get("customer_id"),
        since=times.iso(query["from_"]) if "from_" in query else None,
        until=times.iso(query["to"]) if "to" in query else None,
        ruleset_id=query.get("ruleset_id"), ruleset_version=query.get("ruleset_version"),
        rule=query.get("rule"), action=query.get("action"), level=query.get("level"), q=query.get("q"))


def masker():
    return current_app.extensions.get("vigil.masker")


@blp.route("", methods=["GET"])
@blp.roles("audit")
@blp.arguments(DecisionQuerySchema, location="query")
@blp.response(200, DecisionPageSchema)
@blp.errors(422, 503)
def search_decisions(query):
    """Search the decision log, newest first: by customer, time (`from`, `to`), ruleset and
    version, a rule that fired, a final action, the warning level, and words of the
    explanation (`q`); a page at a time (pass `next_cursor` back as `cursor`)."""
    db = get_db()
    filters = filters_from(query)
    page = search.search(db, filters, cursor=query.get("cursor"), limit=query["limit"],
                         index_seconds=current_app.config["VIGIL_SEARCH_INDEX_SECONDS"])
    ids = [d["decision_id"] for d in page.decisions]
    index = page.index.to_dict() if page.index else None
    record_event(db, auth.actor(), "decision.search", "decisions",
                 {"filters": filters.to_dict(), "cursor": query.get("cursor"), "count": len(ids), "decision_ids": ids,
                  **({"index": index} if index else {})})
    g.decision_ids = ids
    return {"decisions": page.decisions, "next_cursor": page.next_cursor, "index": index}


@blp.route("/export", methods=["GET"])
@blp.roles("audit")
@blp.arguments(ExportQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "Every matching decision, newest first, streamed.",
                            "content": {"text/csv": {"schema": {"type": "string"}},
                                        "application/x-ndjson": {"schema": {"type": "string"}}}}})
@blp.errors(422, 503)
def export_decisions(query):
    """Export every decision a search finds, as CSV or JSON Lines, streamed: memory does
    not grow with the number of rows. Decisions logged after the export starts are not
    in it (`X-Vigil-Through-Seq`)."""
    db = get_db()
    filters = filters_from(query)
    exported = search.export(db, filters, query["format"],
                             index_seconds=current_app.config["VIGIL_SEARCH_INDEX_SECONDS"])
    record_event(db, auth.actor(), "decision.export", "decisions",
                 {"filters": filters.to_dict(), "format": exported.format, "count": exported.count,
                  "through_seq": exported.through_seq})
    g.log_extra = {"exported": exported.count}
    stamp = times.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(stream_with_context(exported.chunks), mimetype=_MEDIA[exported.format], headers={
        "Content-Disposition": f'attachment; filename="decisions-{stamp}.{exported.format}"',
        "X-Vigil-Count": str(exported.count), "X-Vigil-Through-Seq": str(exported.through_seq)})


@blp.route("/head", methods=["GET"])
@blp.roles("audit")
@blp.response(200, HeadSchema)
@blp.errors(503)
def log_head():
    """The log's head (last seq, its chain hash, the number of records): keep it outside
    the service and pass it to verify later to prove nothing up to it changed."""
    db = get_db()
    head = chain.head(db)
    record_event(db, auth.actor(), "decision.head", "decisions", head.to_dict())
    return head.to_dict()


@blp.route("/verify", methods=["GET"])
@blp.roles("audit")
@blp.arguments(VerifyQuerySchema, location="query")
@blp.response(200, VerificationSchema, description="The result of the check, broken or not.")
@blp.errors(422, 503)
def verify_log(query):
    """Check the whole hash chain and name the first broken record and how it broke
    (edited, deleted, inserted, reordered, truncated); with an exported head
    (`head_seq`, `head_chain_hash`), also that the log still reaches it unchanged. The
    audit events' chain is checked too (`audit_events`): `ok` only when both hold."""
    db = get_db()
    against = None
    if any(name.startswith("head_") for name in query):
        against = chain.Head.from_dict({"seq": query.get("head_seq"), "chain_hash": query.get("head_chain_hash"),
                                        "count": query.get("head_count"), "audit_seq": query.get("head_audit_seq"),
                                        "audit_chain_hash": query.get("head_audit_chain_hash")})
    report = chain.verify(db, against)
    record_event(db, auth.actor(), "decision.verify", "decisions", report.summary())
    return report.to_dict()


@blp.route("/<string:decision_id>/explanation", methods=["GET"])
@blp.roles("audit")
@blp.response(200, ExplanationSchema)
@blp.errors(404, 410, 503)
def explain_decision(decision_id):
    """A decision told for a person: each final action with the rules behind it, the
    policy clause, the values that triggered each rule and the threshold that would have
    avoided it, in firing order; and the machine trail."""
    db = get_db()
    story = replay.explanation(db, decision_id)
    record_event(db, auth.actor(), "decision.explain", f"decision:{decision_id}",
                 {"customer_id": story["customer_id"]})
    g.decision_ids = [decision_id]
    return story


@blp.route("/<string:decision_id>/replay", methods=["POST"])
@blp.roles("audit")
@blp.arguments(ReplayRequestSchema, required=False)
@blp.response(200, ReplaySchema)
@blp.errors(400, 404, 410, 415, 422, 503)
def replay_decision(body, decision_id):
    """Evaluate the logged snapshot again under the stored ruleset version and say
    whether the outcome is identical (rules fired in order, actions and their parameters,
    level, review, values read), with what differs if not."""
    db = get_db()
    report = replay.replay(db, decision_id, masker=masker(), original_snapshot=(body or {}).get("snapshot"))
    record_event(db, auth.actor(), "decision.replay", f"decision:{decision_id}",
                 {"identical": report["identical"], "differs_in": sorted(report["diff"]),
                  "with_original_snapshot": bool((body or {}).get("snapshot"))})
    g.decision_ids = [decision_id]
    return report
