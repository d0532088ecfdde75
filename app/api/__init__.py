"""The HTTP layer: flask-smorest blueprints, the error envelope, request ids,
metrics and the API docs. The only layer that knows HTTP."""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from pathlib import Path

import flask_smorest
from flask import Blueprint as FlaskBlueprint
from flask import Flask, Response, abort, g, request, send_from_directory

from app.api import auth, database, errors, headers, metrics, serving
from app.api.schemas import ErrorEnvelopeSchema, batch_item2properties, document2properties

log = logging.getLogger("vigil.http")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_DOC_ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
               "favicon-16x16.png", "favicon-32x32.png"}
# Files of our own for the docs page: its start-up script lives in a file, so the page's
# policy allows scripts from this origin only, and no inline script at all.
_OWN_ASSETS = Path(__file__).parent / "assets"

_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link href="{assets}swagger-ui.css" rel="stylesheet" type="text/css">
<link rel="icon" type="image/png" href="{assets}favicon-32x32.png">
</head>
<body>
<div id="swagger-ui-container" data-spec-url="{spec}"></div>
<script src="{assets}swagger-ui-standalone-preset.js"></script>
<script src="{assets}swagger-ui-bundle.js"></script>
<script src="{assets}vigil-docs.js"></script>
</body>
</html>
"""

API_CONFIG = {
    "API_TITLE": "Vigil",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    # Served by the service itself (below), so the docs work with no internet.
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    "API_SPEC_OPTIONS": {
        "info": {"description": "Post-loan decisions: send a customer's fact snapshot, get the actions, "
                                "warning level and review frequency, with the rules and values behind them. "
                                "Every error has one shape: `{\"error\": {status, reason, message, details}, "
                                "\"request_id\"}`."},
    },
}


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorEnvelopeSchema
    # No catch-all "default" response: every status an operation can answer is listed
    # with it, so a status that is not listed is a defect the API tests catch.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _openapi_json(self):
        """The generated document, with the served rulesets' snapshot contracts
        (app/api/openapi.py), rebuilt when what is served changes."""
        from flask import current_app, json

        from app.api import openapi
        from app.api.errors import RulesetsUnavailable

        try:
            library = serving.library()
        except (RulesetsUnavailable, Exception):  # noqa: BLE001 - the generic document still serves
            library = None
        token = getattr(library, "token", None)
        cached = current_app.extensions.get("vigil.openapi")
        if cached is None or cached[0] != token or token is None:
            text = json.dumps(openapi.with_rulesets(self.spec.to_dict(), library), indent=2, sort_keys=False)
            cached = (token, text)
            current_app.extensions["vigil.openapi"] = cached
        return current_app.response_class(cached[1], mimetype="application/json")


class _RequestIds:
    """Ids for requests that bring none: 32 hex digits, a random half drawn once per
    process (again in a forked worker) and a count, unique without a system call each."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFFFFFFFFFF:016x}"


_request_ids = _RequestIds()


def _start_request() -> None:
    g.started = time.perf_counter()
    environ = request.environ
    incoming = environ.get("HTTP_X_REQUEST_ID")
    g.request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else _request_ids.next()
    if request.blueprint == "console":
        return  # the console signs people in with sessions and sends forms (app/console)
    # Who is calling comes before anything about what they sent.
    auth.check_request()
    if request.method in _BODY_METHODS:
        has_body = bool(request.content_length) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "")
        if has_body and request.mimetype != "application/json":
            raise errors.UnsupportedMediaType()


def _finish_request(response):
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    req = request._get_current_object()
    context = g._get_current_object()
    response.headers["X-Request-Id"] = getattr(context, "request_id", "")
    headers.secure(response, req)
    rule = req.url_rule
    metrics.observe(rule.rule if rule is not None else "unmatched", elapsed)
    extra = {"method": req.method, "path": req.path, "status": response.status_code,
             "duration_ms": round(elapsed * 1000, 3)}
    decision_ids = getattr(context, "decision_ids", None)
    if decision_ids is not None:
        if len(decision_ids) == 1:
            extra["decision_id"] = decision_ids[0]
        else:
            extra["decision_ids"] = decision_ids
    reason = getattr(context, "error_reason", None)
    if reason:
        extra["reason"] = reason
    key = getattr(context, "api_key", None)
    if key is not None:
        extra["key_id"] = key.key_id
    extra.update(getattr(context, "log_extra", None) or {})
    log.info("request", extra=extra)
    return response


def _docs_assets() -> FlaskBlueprint:
    import swagger_ui_bundle

    bp = FlaskBlueprint("docs_assets", __name__)
    own = {path.name for path in _OWN_ASSETS.iterdir()}

    @bp.route("/docs/assets/<name>")
    def asset(name):
        if name in own:
            return send_from_directory(_OWN_ASSETS, name, max_age=3600)
        if name not in _DOC_ASSETS:
            abort(404)
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, name, max_age=86400)

    return bp


def _docs_page(app: Flask):
    """Swagger UI's page without flask-smorest's inline script."""
    prefix = app.config["OPENAPI_URL_PREFIX"].strip("/")
    spec = "/" + "/".join(p for p in (prefix, app.config["OPENAPI_JSON_PATH"]) if p)
    page = _DOCS_PAGE.format(title=app.config["API_TITLE"], assets=app.config["OPENAPI_SWAGGER_UI_URL"], spec=spec)

    def docs():
        return Response(page, mimetype="text/html", headers={"Content-Security-Policy": headers.DOCS_CSP})

    return docs


def init_app(app: Flask) -> None:
    for key, value in API_CONFIG.items():
        app.config.setdefault(key, value)
    # Answer objects in the order they were built: a ruleset's levels are listed lowest
    # first, so a document read back and sent again must keep its key order.
    app.json.sort_keys = False
    metrics.init_app(app)
    auth.init_app(app)
    database.init_app(app)
    serving.init_app(app)
    api = Api(app)
    api.ma_plugin.converter.add_attribute_function(batch_item2properties)
    api.ma_plugin.converter.add_attribute_function(document2properties)
    api.spec.components.security_scheme(auth.SCHEME, auth.SECURITY_SCHEME)

    from app.api import audit, compliance, decisions, governance, holds, keys, operations, rulesets, simulations, tasks

    api.register_blueprint(decisions.blp)
    api.register_blueprint(compliance.blp)
    api.register_blueprint(holds.blp)
    api.register_blueprint(rulesets.rulesets_blp)
    api.register_blueprint(governance.blp)
    api.register_blueprint(rulesets.schemas_blp)
    api.register_blueprint(audit.blp)
    api.register_blueprint(keys.blp)
    api.register_blueprint(simulations.blp)
    api.register_blueprint(operations.blp)
    api.register_blueprint(tasks.blp)
    from app.api import followup_report

    api.register_blueprint(followup_report.blp)
    app.register_blueprint(_docs_assets())
    app.view_functions["api-docs.openapi_swagger_ui"] = _docs_page(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    errors.init_app(app)
    app.extensions["vigil.api"] = api
