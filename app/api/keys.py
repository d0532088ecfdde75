"""API keys, for admins: create (the key is shown once), list, change an officer's
queues, revoke."""

from __future__ import annotations

from app.api import auth
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.schemas import KeyListSchema, KeyQueuesSchema, KeyRequestSchema, KeySchema, NewKeySchema
from app.store import keys

blp = Blueprint("keys", __name__, url_prefix="/v1/keys",
                description="API keys and their roles. Only a salted hash of each key is kept.")


@blp.route("", methods=["POST"])
@blp.roles("admin")
@blp.arguments(KeyRequestSchema, example={"name": "card-system-prod", "owner": "card-platform", "roles": ["decide"]})
@blp.response(201, NewKeySchema, description="The key, shown this once.")
@blp.errors(400, 409, 415, 422, 503)
def create_key(body):
    """Create an API key for a person (`owner`) with one or more roles, and for an officer
    the follow-up `queues` they work. The name must not be an active key's (409
    `key_name_taken`)."""
    key, token = keys.create_key(get_db(), name=body["name"], owner=body["owner"], roles=body["roles"],
                                 actor=auth.actor(), queues=body.get("queues", ()))
    return {**key.to_dict(), "key": token}


@blp.route("", methods=["GET"])
@blp.roles("admin")
@blp.response(200, KeyListSchema)
@blp.errors(503)
def list_keys():
    """Every key, revoked ones included; never a secret."""
    return {"keys": [k.to_dict() for k in keys.list_keys(get_db())]}


@blp.route("/<string:key_id>/queues", methods=["PUT"])
@blp.roles("admin")
@blp.arguments(KeyQueuesSchema, example={"queues": ["branch:0101", "default"]})
@blp.response(200, KeySchema)
@blp.errors(400, 404, 415, 422, 503)
def set_queues(body, key_id):
    """Set the follow-up queues an active officer key works (an empty list: none). From
    the next request on, on every worker; an audit event `key.queues` with the queues
    before and after."""
    return keys.set_queues(get_db(), key_id, body["queues"], actor=auth.actor()).to_dict()


@blp.route("/<string:key_id>/revoke", methods=["POST"])
@blp.roles("admin")
@blp.response(200, KeySchema)
@blp.errors(404, 409, 503)
def revoke_key(key_id):
    """Revoke a key; it is refused from the next request on, on every worker. The last
    active admin key cannot be revoked (409 `last_admin_key`)."""
    return keys.revoke_key(get_db(), key_id, actor=auth.actor()).to_dict()
