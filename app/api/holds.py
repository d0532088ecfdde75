"""Legal holds: a customer's decisions are kept whole past their retention period while a
hold is in place. Placing and releasing one are audit events, and take the `legal` role:
`audit` reads the log and the holds, and changes nothing."""

from __future__ import annotations

from app.api import auth
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.parsing import OptionalJSONParser
from app.api.schemas import HoldListSchema, HoldQuerySchema, HoldReleaseSchema, HoldRequestSchema, HoldSchema
from app.store import retention

class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = OptionalJSONParser()


blp = _Blueprint("legal-holds", __name__, url_prefix="/v1/legal-holds",
                description="Legal holds: keep a customer's decisions whole past their retention period.")


@blp.route("", methods=["POST"])
@blp.roles("legal")
@blp.arguments(HoldRequestSchema, example={"customer_id": "C-100001", "reason": "complaint 2026-118"})
@blp.response(201, HoldSchema)
@blp.errors(400, 415, 422, 503)
def place_hold(body):
    """Place a legal hold on a customer: purge leaves their decisions whole until it is released."""
    return retention.place_hold(get_db(), body["customer_id"], body["reason"], auth.actor()).to_dict()


@blp.route("", methods=["GET"])
@blp.roles("audit", "legal")
@blp.arguments(HoldQuerySchema, location="query")
@blp.response(200, HoldListSchema)
@blp.errors(422, 503)
def list_holds(query):
    """Holds in place (`all=true`: released ones too), optionally of one customer."""
    holds = retention.list_holds(get_db(), customer_id=query.get("customer_id"), include_released=query["all"])
    return {"holds": [h.to_dict() for h in holds]}


@blp.route("/<string:hold_id>/release", methods=["POST"])
@blp.roles("legal")
@blp.arguments(HoldReleaseSchema, required=False)
@blp.response(200, HoldSchema)
@blp.errors(400, 404, 409, 415, 422, 503)
def release_hold(body, hold_id):
    """Release a hold, once; the customer's decisions follow the retention period again."""
    return retention.release_hold(get_db(), hold_id, auth.actor(), (body or {}).get("reason")).to_dict()
