"""POST /v1/decisions, POST /v1/decisions/batch, GET /v1/decisions/{id}.

A decision is answered only after it is committed to the decision log, and the body
answered is the very text that was logged: GET returns it byte for byte, and so does
a retry with the same client_request_id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid

from flask import Response, current_app, g
from marshmallow import ValidationError

from app.api import auth, examples, metrics, serving
from app.api.database import get_log
from app.api.blueprint import Blueprint
from app.api.errors import (
    ClientRequestIdReused,
    RequestInvalid,
    engine_error_parts,
    validation_details,
)
from app.api.schemas import (
    BatchRequestSchema,
    BatchResponseSchema,
    DecisionRequestSchema,
    DecisionSchema,
)
from app.engine import EngineError
from app.engine.masking import Masker
from app.store import decisions as decision_log
from app.store.audit import record_event

blp = Blueprint("decisions", __name__, url_prefix="/v1/decisions",
                description="Decide on a fact snapshot, alone or in a batch, and fetch a decision back.")
log = logging.getLogger("vigil.decisions")
_request_schema = DecisionRequestSchema()

_dumps = decision_log.dumps


def masker_from(config) -> Masker | None:
    """The masker for personal fields, when VIGIL_MASK_PERSONAL is on."""
    return Masker(config["VIGIL_MASK_KEY"]) if config.get("VIGIL_MASK_PERSONAL") else None


def _masker() -> Masker | None:
    return current_app.extensions.get("vigil.masker")


def _request_hash(item: dict) -> str:
    masker = _masker()
    # a plain hash of a snapshot could be checked against guessed personal values
    return decision_log.request_hash(item, masker.digest if masker is not None else None)


def _decide(item: dict, started: float, library) -> decision_log.Decision:
    """Evaluate one request into a decision ready to log. Raises EngineError.

    Without a pinned version, the version is the one in effect at decided_at."""
    now = dt.datetime.now(dt.timezone.utc)
    ruleset = library.ruleset(item["ruleset_id"], item.get("ruleset_version"), at=now)
    explain = item["explain"]
    masker = _masker()
    redaction = masker.redaction(ruleset.contract) if masker is not None else None
    t0 = time.perf_counter()
    result = ruleset.evaluate(item["snapshot"], explain=explain, mask=redaction).to_dict()
    t1 = time.perf_counter()
    decided_at = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
    decision_id = str(uuid.uuid4())
    head = {
        "decision_id": decision_id,
        "decided_at": decided_at,
        "customer_id": item["customer_id"],
        "client_request_id": item.get("client_request_id"),
        "ruleset": result["ruleset"],
    }
    outcome = {
        "level": result.get("level"),
        "review_frequency": result.get("review_frequency"),
        "actions": result.get("actions", []),
        "overridden": result.get("overridden", []),
        "signals": result.get("signals", []),
        "fired": result.get("fired", []),
    }
    tail = {"not_fired": result.get("not_fired", [])} if explain == "full" else {}
    tail["explain"] = explain
    tail["timing"] = {
        "evaluation_ms": round((t1 - t0) * 1000, 3),
        "total_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    result_json = _dumps(outcome)
    trail_json = _dumps(result.get("trail", []))
    # The answer is head + outcome + trail + tail as one JSON object, assembled from
    # the texts logged in the result and trail columns rather than serialized twice.
    response = f"{_dumps(head)[:-1]},{result_json[1:-1]},\"trail\":{trail_json},{_dumps(tail)[1:]}"
    return decision_log.Decision(
        id=decision_id,
        decided_at=decided_at,
        customer_id=item["customer_id"],
        ruleset_id=result["ruleset"]["id"],
        ruleset_version=result["ruleset"]["version"],
        ruleset_hash=result["ruleset"]["hash"],
        client_request_id=item.get("client_request_id"),
        request_hash=_request_hash(item),
        level=outcome["level"],
        review_frequency=outcome["review_frequency"],
        snapshot=_dumps(redaction.snapshot(item["snapshot"]) if redaction is not None else item["snapshot"]),
        result=result_json,
        trail=trail_json,
        response=response,
        masked=redaction.label if redaction is not None else None,
    )


def _earlier(db, item: dict) -> decision_log.Decision | None:
    """The logged decision for this client_request_id, if there is one. Raises
    ClientRequestIdReused when that id was logged for a different request."""
    crid = item.get("client_request_id")
    if crid is None:
        return None
    earlier = decision_log.by_client_request_id(db, crid)
    if earlier is not None and earlier.request_hash != _request_hash(item):
        raise ClientRequestIdReused()
    return earlier


def _count(logged: list[decision_log.Logged]) -> None:
    for entry in logged:
        if not entry.replayed:
            result = json.loads(entry.decision.result)
            metrics.decision(entry.decision.ruleset_id, [a.get("action") for a in result["actions"]],
                             entry.decision.level)


def _json(text: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(text, status=status, mimetype="application/json", headers=headers)


@blp.route("", methods=["POST"])
@blp.roles("decide")
@blp.arguments(DecisionRequestSchema(), example=examples.DECISION_REQUEST)
@blp.response(201, DecisionSchema, description="A new decision, committed to the log.")
@blp.alt_response(200, schema=DecisionSchema,
                  description="The decision already logged for this client_request_id.")
@blp.errors(400, 404, 409, 413, 415, 422, 503)
def create_decision(item):
    """Decide on one fact snapshot.

    The decision is committed to the decision log before it is answered; if it
    cannot be logged the answer is 503 and no decision id."""
    started = g.started
    db = get_log()
    earlier = _earlier(db, item)
    if earlier is None:
        decision = _decide(item, started, serving.library())
        [logged] = decision_log.record(db, [decision])
        if logged.replayed and logged.decision.request_hash != decision.request_hash:
            raise ClientRequestIdReused()
        _count([logged])
        earlier = logged.decision if logged.replayed else None
        if earlier is None:
            g.decision_ids = [decision.id]
            g.log_extra = {"ruleset": decision.ruleset_id, "ruleset_version": decision.ruleset_version,
                           "warning_level": decision.level}
            return _json(decision.response, 201)
    g.decision_ids = [earlier.id]
    return _json(earlier.response, 200, {"Idempotent-Replayed": "true"})


@blp.route("/batch", methods=["POST"])
@blp.roles("decide")
@blp.arguments(BatchRequestSchema(), example=examples.BATCH_REQUEST)
@blp.response(200, BatchResponseSchema, description=(
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
    started = g.started
    db = get_log()
    library = serving.library()  # one snapshot for the whole batch
    results: list[tuple[int, object]] = []  # (index, Decision | error dict)
    pending: list[tuple[int, decision_log.Decision]] = []
    for index, raw in enumerate(items):
        try:
            item = _request_schema.load(raw)
            earlier = _earlier(db, item)
            if earlier is None:
                pending.append((index, _decide(item, started, library)))
            results.append((index, earlier))  # None: the pending decision, once logged
        except ValidationError as exc:
            results.append((index, _item_error(422, "validation_error", "The item does not match its schema.",
                                               validation_details(exc.messages))))
        except ClientRequestIdReused as exc:
            results.append((index, _item_error(exc.status, exc.reason, exc.message)))
        except EngineError as exc:
            results.append((index, _item_error(*engine_error_parts(exc))))
        except Exception:  # one item's failure must not take the batch down
            log.exception("batch item failed", extra={"index": index})
            results.append((index, _item_error(500, "internal_error", "This item could not be decided.")))
    logged = decision_log.record(db, [d for _, d in pending]) if pending else []
    _count(logged)
    by_index = {}
    for (index, decision), entry in zip(pending, logged):
        if entry.replayed and entry.decision.request_hash != decision.request_hash:
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
            parts.append(_dumps({"index": index, "status": outcome["status"], "error": outcome}))
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
    db = get_log()
    decision = decision_log.get(db, decision_id)
    record_event(db, auth.actor(), "decision.read", f"decision:{decision.id}", {"customer_id": decision.customer_id})
    g.decision_ids = [decision.id]
    return _json(decision.response)
