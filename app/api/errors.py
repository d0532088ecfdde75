"""The one error envelope, and the one place exceptions become HTTP responses.

Every error any endpoint answers has this shape:

    {"error": {"status": 422, "reason": "snapshot_invalid", "message": "...",
               "details": [{"path": "card.utilization", "message": "..."}]},
     "request_id": "..."}

`reason` is stable and machine-readable; `message` is for people and never holds a
stack trace, SQL, a file path or an exception's own text from below the API. Every
error Vigil raises on purpose is an ``app.core.errors.VigilError``; the HTTP status of
each reason is chosen here, in ``STATUS``, and nowhere else.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from app.core import codec
from app.core.errors import VigilError
from app.engine import EngineError
from app.store import StoreError

log = logging.getLogger("vigil.api")


class ApiError(VigilError):
    """An error the API layer itself detects (request shape, media type ...)."""

    reason = "bad_request"
    message = "The request is not valid."


class MalformedJSON(ApiError):
    reason = "malformed_json"
    message = "The request body is not valid JSON."


class UnsupportedMediaType(ApiError):
    reason = "unsupported_media_type"
    message = "Send the request body as application/json."


class RequestInvalid(ApiError):
    reason = "validation_error"
    message = "The request does not match its schema."


class RulesetsUnavailable(ApiError):
    reason = "rulesets_unavailable"
    message = "The rulesets could not be loaded; no decision can be made."


class ClientRequestIdReused(ApiError):
    reason = "client_request_id_reused"
    message = "This client_request_id was already used for a different request."


# The HTTP status of every reason a VigilError carries. A reason missing here answers
# 500 (and a test fails: every error class must have its status here).
STATUS = {
    # the API's own
    "bad_request": 400,
    "malformed_json": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "client_request_id_reused": 409,
    "simulation_not_done": 409,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "too_many_requests": 429,
    "rulesets_unavailable": 503,
    # the service's
    "check_budget_exceeded": 422,
    "check_failed": 422,
    "checkers_busy": 503,
    "ruleset_version_unavailable": 503,
    # the engine's
    "not_found": 404,
    "ruleset_not_found": 404,
    "schema_not_found": 404,
    "ruleset_invalid": 422,
    "engine_error": 500,
    "evaluation_error": 500,
    "loop_bound_exceeded": 500,
    # the store's
    "four_eyes": 403,
    "decision_not_found": 404,
    "version_not_found": 404,
    "key_not_found": 404,
    "hold_not_found": 404,
    "task_not_found": 404,
    "simulation_not_found": 404,
    "invalid_status": 409,
    "task_taken": 409,
    "not_claimed": 409,
    "too_many_drafts": 409,
    "edit_conflict": 409,
    "key_name_taken": 409,
    "last_admin_key": 409,
    "decision_purged": 410,
    "approval_refused": 422,
    "store_error": 500,
    "decision_log_unavailable": 503,
}


def status_of(exc: VigilError) -> int:
    return STATUS.get(exc.reason, 500)


# Reasons for errors Werkzeug or webargs raise, by status.
_HTTP_REASONS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

_HTTP_MESSAGES = {
    404: "No such resource.",
    405: "This method is not allowed on this resource.",
    413: "The request body is too large.",
    422: "The request does not match its schema.",
}

# Server-side failures get a fixed message: what went wrong inside is for the logs.
_SERVER_MESSAGES = {
    "evaluation_error": "The engine could not evaluate this snapshot; no decision was made.",
}


def envelope(status: int, reason: str, message: str, details: list | None = None,
             request_id: str | None = None) -> dict:
    """The error body. ``request_id`` for an error answered outside a request (the
    gunicorn worker's own); otherwise the request's."""
    return {
        "error": {"status": status, "reason": reason, "message": message, "details": details or []},
        "request_id": request_id if request_id is not None else getattr(g, "request_id", None),
    }


def error_response(status: int, reason: str, message: str, details: list | None = None,
                   headers: dict | None = None) -> Response:
    from app.api import metrics

    metrics.error(reason)
    g.error_reason = reason
    body = codec.dumps(envelope(status, reason, message, details))
    return Response(body, status=status, mimetype="application/json", headers=headers)


def _flatten(messages, prefix: str = "") -> list[dict]:
    """webargs/marshmallow messages ({"field": ["msg"], "nested": {...}}) as a list
    of {path, message}, with dotted paths like the engine's."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict | list):
                out.extend(_flatten(item, prefix))
            else:
                out.append({"path": prefix, "message": str(item)})
    else:
        out.append({"path": prefix, "message": str(messages)})
    return out


def validation_details(messages) -> list[dict]:
    # webargs keys messages by location ("json", "query"); the body is the default
    # place, so its paths start at the field.
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "view_args", "path", "headers"}:
        details = []
        for location, inner in messages.items():
            details.extend(_flatten(inner, "" if location == "json" else location))
        return details
    return _flatten(messages)


def error_parts(exc: VigilError) -> tuple[int, str, str, list]:
    """status, reason, message and details for a VigilError, answered alone or as one
    item of a batch."""
    status, reason, message, details = status_of(exc), exc.reason, exc.message, list(exc.details)
    if isinstance(exc, StoreError) and status >= 500:
        from app.api.database import drop_db

        log.error("decision log error", extra={"reason": reason}, exc_info=exc)
        drop_db()
    elif isinstance(exc, EngineError) and status >= 500:
        log.error("engine error", extra={"reason": reason}, exc_info=exc)
        message, details = _SERVER_MESSAGES.get(reason, "The decision could not be made."), []
    elif isinstance(exc, EngineError) and details and reason == "validation_error":
        message = "The snapshot does not match its contract."
    return status, reason, message, details


def handle_vigil_error(exc: VigilError) -> Response:
    return error_response(*error_parts(exc), getattr(exc, "headers", None))


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    reason = _HTTP_REASONS.get(status, "http_error")
    details: list = []
    data = getattr(exc, "data", None) or {}
    if status == 422 and "messages" in data:
        details = validation_details(data["messages"])
    message = _HTTP_MESSAGES.get(status) or (exc.description if status < 500 else None) \
        or "The request could not be handled."
    headers = {}
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return error_response(status, reason, message, details, headers)


def handle_unexpected(exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "The request could not be handled.")


def init_app(app: Flask) -> None:
    # Registered after flask-smorest's Api so these replace its HTTPException handler.
    app.register_error_handler(VigilError, handle_vigil_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
    # Do not let Flask turn errors into debugger pages or propagate them.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["TRAP_HTTP_EXCEPTIONS"] = False
