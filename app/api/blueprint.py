"""The blueprint class every API module uses."""

from __future__ import annotations

from copy import deepcopy
from functools import wraps

import flask_smorest
from flask import request
from marshmallow import ValidationError

from app.api import auth
from app.api.errors import RequestInvalid, validation_details
from app.api.parsing import DecimalJSONParser
from app.api.schemas import ErrorEnvelopeSchema

_DESCRIPTIONS = {
    400: "Malformed JSON (reason `malformed_json`).",
    401: "No API key, or one that is unknown or revoked (reason `unauthenticated`).",
    403: "The API key lacks a role this endpoint requires (reason `forbidden`).",
    404: "Unknown ruleset, schema or decision.",
    409: "The client_request_id was already used for a different request.",
    410: "The decision's content was purged at the end of its retention period (reason `decision_purged`).",
    413: "The request body is larger than the service accepts.",
    415: "The body is not application/json.",
    429: "Too many failed authentications from this address (reason `too_many_requests`); `Retry-After` "
         "says when to try again.",
    422: "The request or the snapshot breaks its schema; every bad field is in `details` with its path.",
    503: "The decision log or the rulesets are unavailable; no decision was made.",
}


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = DecimalJSONParser()

    def errors(self, *statuses: int):
        """Document the error responses a view can give, all in the one envelope.

        Stores the same documentation as flask-smorest's alt_response, without the
        wrapper function alt_response adds per status on every request's path."""

        def decorator(func):
            func._apidoc = deepcopy(getattr(func, "_apidoc", {}))
            responses = func._apidoc.setdefault("response", {}).setdefault("responses", {})
            for status in statuses:
                responses.setdefault(status, []).append({
                    "schema": ErrorEnvelopeSchema(),
                    "description": _DESCRIPTIONS.get(status, "Error."),
                    "content_type": None,
                })
            return func

        return decorator

    def body(self, schema, *, example=None):
        """A JSON body loaded with ``schema`` and passed to the view as its first
        argument: documented as flask-smorest's ``arguments`` documents it, read as
        DecimalJSONParser reads it (size limit, exact decimals, bounds, duplicate keys),
        refused with the same 422 naming each bad field, without webargs' layers on
        every request's path. For the endpoints every decision goes through."""
        documented = self.arguments(schema, example=example)

        def decorator(func):
            @wraps(func)
            def view(*args, **kwargs):
                document = self.ARGUMENTS_PARSER.load_json(request, schema)
                try:
                    loaded = schema.load(document)
                except ValidationError as exc:
                    raise RequestInvalid(details=validation_details(exc.messages)) from None
                return func(loaded, *args, **kwargs)

            view._apidoc = deepcopy(documented(func)._apidoc)
            return view

        return decorator

    def answers(self, status: int, schema, *, description: str, alternative: bool = False):
        """Document a success answer that the view builds itself (a Response), as
        flask-smorest's ``response`` (or, ``alternative``, ``alt_response``) documents
        it, without the wrapper those add to every request's path."""
        documenting = (self.alt_response(status, schema=schema, description=description)
                       if alternative else self.response(status, schema, description=description))

        def decorator(func):
            func._apidoc = deepcopy(documenting(func)._apidoc)
            return func

        return decorator

    def roles(self, *roles: str):
        """Declare the roles that may call a view (admin may call every view), and
        document the security scheme and the 401 and 403 answers."""

        def decorator(func):
            func = self.errors(401, 403, 429)(func)
            auth.declare(func, frozenset(roles))
            return func

        return decorator

    @staticmethod
    def public(func):
        """Declare a view anyone may call, with no key."""
        auth.declare(func, auth.PUBLIC)
        return func
