"""POST /v1/decisions, POST /v1/decisions/batch, GET /v1/decisions/{id}.

A decision is answered only after it is committed to the decision log, and the body
answered is the very text that was logged: GET returns it byte for byte, and so does
a retry with the same client_request_id.
"""

from __future__ import annotations

import logging

from flask import Response, current_app, g
from marshmallow import ValidationError

from app.api import auth, examples, metrics, serving
from app.api.database import get_db, log_decisions
from app.api.parsing import RefusedItem
from app.api.blueprint import Blueprint
from app.api.errors import (
    ClientRequestIdReused,
    RequestInvalid,
    error_parts,
    validation_details,
)
from app.api.schemas import (
    BatchRequestSchema,
    BatchResponseSchema,
    DecisionRequestSchema,
    DecisionSchema,
)
from app.core import codec
from app.engine import EngineError
from app.engine.masking import Masker
from app.service import decide, followup
from app.service.decide import DecisionRequest
from app.service.served import VersionUnavailable
from app.store import decision_log
from app.store.audit import record_event

blp = Blueprint("decisions", __name__, url_prefix="/v1/decisions",
                description="Decide on a fact snapshot, alone or in a batch, and fetch a decision back.")
log = logging.getLogger("vigil.decisions")
_request_schema = DecisionRequestSchema()


def _masker() -> Masker | None:
    return current_app.extensions.get("vigil.masker")


def _queue() -> str:
    return current_app.extensions.get("vigil.default_task_queue") or followup.DEFAULT_QUEUE


def _earlier(db, request: DecisionRequest):
    try:
        return decide.earlier(db, request, _masker())
    except decide.RequestIdReused:
        raise ClientRequestIdReused() from None


def _count(decided: list[decide.Decided], logged: list) -> None:
    """Count the decisions newly logged, from their evaluations (not by reading back
    the logged text)."""
    for made, entry in zip(decided, logged):
        if isinstance(entry, decision_log.Logged) and not entry.replayed:
            evaluation = made.evaluation
            metrics.decision(evaluation.ruleset_id, evaluation.action_names, evaluation.level)


def _json(text: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(text, status=status, mimetype="application/json", headers=headers)


@blp.route("", methods=["POST"])
@blp.roles("decide")
@blp.body(DecisionRequestSchema(), example=examples.DECISION_REQUEST)
@blp.answers(201, DecisionSchema, description="A new decision, committed to the log.")
@blp.answers(200, DecisionSchema, description="The decision already logged for this client_request_id.",
             alternative=True)
@blp.errors(400, 404, 409, 413, 415, 422, 503)
def create_decision(item):
    """Decide on one fact snapshot.

    The decision is committed to the decision log before it is answered; if it
    cannot be logged the answer is 503 and no decision id."""
    request = DecisionRequest.from_item(item, caller=auth.actor().person)
    db = get_db()
    earlier = _earlier(db, request)
    if earlier is None:
        decided = decide.decide(request, serving.library(), masker=_masker(), started=g.started,
                                follow_up=followup.facts_reader(db))
        [logged] = log_decisions(db, [decided.row], [decided.follow_ups(_queue())])
        if isinstance(logged, decide.RequestIdReused):
            raise ClientRequestIdReused()
        _count([decided], [logged])
        earlier = logged.decision if logged.replayed else None
        if earlier is None:
            decision = logged.decision
            g.decision_ids = [decision.id]
            g.log_extra = {"ruleset": decision.ruleset_id, "ruleset_version": decision.ruleset_version,
                           "warning_level": decision.level}
            return _json(decision.response, 201)
    g.decision_ids = [earlier.id]
    return _json(earlier.response, 200, {"Idempotent-Replayed": "true"})


@blp.route("/batch", methods=["POST"])
@blp.roles("decide")
@blp.body(BatchRequestSchema(), example=examples.BATCH_REQUEST)
@blp.answers(200, BatchResponseSchema, description=(
    "One result per item, in order. An item that fails carries its own error and "
    "does not stop the others; the decisions are committed to the log before the answer."))
@blp.errors(400, 413, 415, 422, 503)
def create_batch(args):
    """Decide on up to VIGIL_BATCH_LIMIT snapshots in one call."""
    items = args["items"]
    limit = current_app.config["VIGIL_BATCH_LIMIT"]
    if len(items) > limit:
        raise RequestInvalid(f"At most {limit} items in one batch.",
                             [{"path": "items", "message": f"Longer than {limit} items."}])
    db = get_db()
    policies = serving.library()  # the same policies for the whole batch
    masker = _masker()
    facts = followup.facts_reader(db)
    results: list[tuple[int, object]] = []  # (index, Decision | error dict)
    pending: list[tuple[int, decide.Decided]] = []
    for index, raw in enumerate(items):
        if isinstance(raw, RefusedItem):
            results.append((index, _item_error(422, "validation_error", "The item does not match its schema.",
                                               raw.details)))
            continue
        try:
            request = DecisionRequest.from_item(_request_schema.load(raw), caller=auth.actor().person)
            earlier = _earlier(db, request)
            if earlier is None:
                pending.append((index, decide.decide(request, policies, masker=masker, started=g.started,
                                                     follow_up=facts)))
            results.append((index, earlier))  # None: the pending decision, once logged
        except ValidationError as exc:
            results.append((index, _item_error(422, "validation_error", "The item does not match its schema.",
                                               validation_details(exc.messages))))
        except (ClientRequestIdReused, VersionUnavailable) as exc:
            results.append((index, _item_error(*error_parts(exc))))
        except EngineError as exc:
            results.append((index, _item_error(*error_parts(exc))))
        except Exception:  # one item's failure must not take the batch down
            log.exception("batch item failed", extra={"index": index})
            results.append((index, _item_error(500, "internal_error", "This item could not be decided.")))
    logged = log_decisions(db, [d.row for _, d in pending], [d.follow_ups(_queue()) for _, d in pending]) \
        if pending else []
    _count([d for _, d in pending], logged)
    by_index = {}
    for (index, _), entry in zip(pending, logged):
        if isinstance(entry, decide.RequestIdReused):
            by_index[index] = _item_error(409, ClientRequestIdReused.reason, ClientRequestIdReused.message)
        else:
            by_index[index] = entry.decision
    parts, decided, ids = [], 0, []
    for index, outcome in results:
        outcome = by_index.get(index, outcome)
        if isinstance(outcome, decision_log.Decision):
            decided += 1
            ids.append(outcome.id)
            parts.append(f'{{"index":{index},"status":200,"decision":{outcome.response}}}')
        else:
            metrics.error(outcome["reason"])
            parts.append(codec.dumps({"index": index, "status": outcome["status"], "error": outcome}))
    g.decision_ids = ids
    g.log_extra = {"items": len(items), "decided": decided}
    body = f'{{"results":[{",".join(parts)}],"decided":{decided},"failed":{len(items) - decided}}}'
    return _json(body)


def _item_error(status: int, reason: str, message: str, details: list | None = None) -> dict:
    return {"status": status, "reason": reason, "message": message, "details": details or []}


@blp.route("/<string:decision_id>", methods=["GET"])
@blp.roles("decide", "audit")
@blp.response(200, DecisionSchema, description="The decision exactly as it was answered.")
@blp.errors(404, 410, 503)
def get_decision(decision_id):
    """Fetch a logged decision by id. Every fetch is an audit event (`decision.read`)."""
    db = get_db()
    decision = decision_log.get(db, decision_id)
    record_event(db, auth.actor(), "decision.read", f"decision:{decision.id}", {"customer_id": decision.customer_id})
    g.decision_ids = [decision.id]
    return _json(decision.response)
