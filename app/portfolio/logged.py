"""Building the decision log row for one evaluation, without Flask.

The API builds its rows in app/api/decisions.py; this mirrors it so that a decision made
by a portfolio review reads exactly like one made through ``POST /v1/decisions``: the
same ``response`` body, the same result and trail columns, the same request hash.
"""
from __future__ import annotations

import datetime as dt
import uuid

from app.engine import Evaluation
from app.store.decisions import RESULT_KEYS, Decision, dumps, request_hash

def decision_row(evaluation: Evaluation, snapshot, customer_id: str, client_request_id: str,
                 evaluation_ms: float, total_ms: float, explain: str = "summary") -> Decision:
    """The log row for one evaluation of ``snapshot`` (the snapshot as it was given)."""
    result = evaluation.to_dict()
    decided_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    body = {
        "decision_id": str(uuid.uuid4()),
        "decided_at": decided_at,
        "customer_id": customer_id,
        "client_request_id": client_request_id,
        "ruleset": result["ruleset"],
        "level": result["level"],
        "review_frequency": result["review_frequency"],
        "actions": result["actions"],
        "overridden": result["overridden"],
        "signals": result["signals"],
        "fired": result["fired"],
        "trail": result["trail"],
    }
    if explain == "full":
        body["not_fired"] = result.get("not_fired", [])
    body["explain"] = explain
    body["timing"] = {"evaluation_ms": round(evaluation_ms, 3), "total_ms": round(total_ms, 3)}
    item = {"ruleset_id": evaluation.ruleset_id, "ruleset_version": evaluation.ruleset_version,
            "customer_id": customer_id, "explain": explain, "snapshot": snapshot}
    return Decision(
        id=body["decision_id"],
        decided_at=decided_at,
        customer_id=customer_id,
        ruleset_id=evaluation.ruleset_id,
        ruleset_version=evaluation.ruleset_version,
        ruleset_hash=evaluation.ruleset_hash,
        client_request_id=client_request_id,
        request_hash=request_hash(item),
        level=body["level"],
        review_frequency=body["review_frequency"],
        snapshot=dumps(snapshot),
        result=dumps({k: body[k] for k in RESULT_KEYS}),
        trail=dumps(body["trail"]),
        response=dumps(body),
    )
