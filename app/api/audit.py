"""GET /v1/audit-events: the governance record, for compliance."""

from __future__ import annotations

from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.schemas import AuditPageSchema, AuditQuerySchema
from app.store import audit, times

blp = Blueprint("audit", __name__, url_prefix="/v1/audit-events",
                description="Who did what, when, to which ruleset, contract or key, with the hashes before and after.")


@blp.route("", methods=["GET"])
@blp.roles("audit")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
@blp.errors(422, 503)
def list_audit_events(query):
    """Audit events, oldest first, filtered by actor, action, target and time; a page at
    a time (pass `next_cursor` back as `cursor`)."""
    page = audit.list_events(
        get_db(), actor=query.get("actor"), action=query.get("action"), target=query.get("target"),
        since=times.iso(query["since"]) if "since" in query else None,
        until=times.iso(query["until"]) if "until" in query else None,
        cursor=query.get("cursor"), limit=query["limit"])
    return {"events": [e.to_dict() for e in page.events], "next_cursor": page.next_cursor}
