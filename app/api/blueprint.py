"""The blueprint class every API module uses."""

from __future__ import annotations

import flask_smorest

from app.api.parsing import DecimalJSONParser
from app.api.schemas import ErrorEnvelopeSchema

_DESCRIPTIONS = {
    400: "Malformed JSON (reason `malformed_json`).",
    404: "Unknown ruleset, schema or decision.",
    409: "The client_request_id was already used for a different request.",
    413: "The request body is larger than the service accepts.",
    415: "The body is not application/json.",
    422: "The request or the snapshot breaks its schema; every bad field is in `details` with its path.",
    503: "The decision log or the rulesets are unavailable; no decision was made.",
}


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = DecimalJSONParser()

    def errors(self, *statuses: int):
        """Document the error responses a view can give, all in the one envelope."""

        def decorator(func):
            for status in reversed(statuses):
                func = self.alt_response(status, schema=ErrorEnvelopeSchema,
                                         description=_DESCRIPTIONS.get(status, "Error."))(func)
            return func

        return decorator
