"""Access control: API keys with roles, and the role each endpoint requires.

Every endpoint declares who may call it, next to its route::

    @blp.route("/v1/audit-events", methods=["GET"])
    @blp.roles("audit")            # these roles (admin may call every endpoint)
    def list_audit_events(): ...

    @blp.route("/healthz", methods=["GET"])
    @blp.public                    # no key needed
    def healthz(): ...

A request is checked before its view runs: no key, or a key that is unknown,
malformed or revoked, is 401 ``unauthenticated``; a key without one of the endpoint's
roles is 403 ``forbidden``. An endpoint that declares nothing is refused to every role
but admin, and a test fails on it. The key that passed is ``g.api_key`` and the person
acting ``g.actor`` (an ``app.store.audit.Actor``, what ``record_event`` takes).
"""

from __future__ import annotations

from copy import deepcopy

from flask import Flask, current_app, g, request
from flask_smorest.utils import load_info_from_docstring

from app.api import ratelimit
from app.api.errors import ApiError
from app.store import keys as key_store
from app.store.audit import Actor
from app.store.keys import ROLES

PUBLIC = frozenset({"public"})
ADMIN = "admin"
SCHEME = "bearerAuth"
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key, `vgl_<key id>_<secret>`, sent as `Authorization: Bearer <key>`. "
                   "Create one with `flask --app wsgi keys create` or `POST /v1/keys`.",
}
# Endpoints Flask and flask-smorest add themselves: the docs, their files, the spec.
_PUBLIC_ENDPOINTS = {"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui", "docs_assets.asset"}


class Unauthenticated(ApiError):
    reason = "unauthenticated"
    message = "Send a valid API key: Authorization: Bearer <key>."


class Forbidden(ApiError):
    reason = "forbidden"
    message = "This API key does not have a role this endpoint requires."


class TooManyFailures(ApiError):
    reason = "too_many_requests"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many requests with an invalid API key from this address; retry in {retry_after} s.")
        self.headers = {"Retry-After": str(retry_after)}


def init_app(app: Flask) -> None:
    app.extensions["vigil.auth_failures"] = ratelimit.FailureLimiter(
        int(app.config["VIGIL_AUTH_FAILURES"]), float(app.config["VIGIL_AUTH_FAILURE_WINDOW"]))
    app.extensions["vigil.trusted_proxies"] = ratelimit.trusted_proxies(app.config["VIGIL_TRUSTED_PROXIES"])


def client_address() -> str:
    """Who a request comes from: the peer, or what a trusted proxy says (app/api/ratelimit.py)."""
    proxies = current_app.extensions["vigil.trusted_proxies"]
    if not proxies:  # no proxy is trusted: the peer, whatever X-Forwarded-For says
        return request.remote_addr or ""
    return ratelimit.client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), proxies)


def declare(func, roles: frozenset[str]) -> None:
    """Record the roles on the view function and in its OpenAPI operation."""
    unknown = roles - set(ROLES) - PUBLIC
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {ROLES}")
    func._vigil_roles = roles
    doc = deepcopy(getattr(func, "_apidoc", {}))
    manual = doc.setdefault("manual_doc", {})
    if roles == PUBLIC:
        manual["security"] = []
    else:
        allowed = sorted(roles | {ADMIN})
        manual["security"] = [{SCHEME: []}]
        manual["x-roles"] = allowed
        described = manual.get("description") or load_info_from_docstring(func.__doc__).get("description")
        manual["description"] = ((described + "\n\n") if described else "") + \
            f"Roles: {', '.join(f'`{r}`' for r in allowed)}."
    func._apidoc = doc


def roles_of(endpoint: str | None) -> frozenset[str] | None:
    """The roles an endpoint declared, PUBLIC, or None when it declared nothing."""
    if endpoint is None:
        return PUBLIC  # no route matched: the 404 or 405 says nothing about any resource
    if endpoint in _PUBLIC_ENDPOINTS:
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "_vigil_roles", None)


def allows(declared: frozenset[str] | None, key_roles) -> bool:
    if ADMIN in key_roles:
        return True
    return declared is not None and bool(declared & set(key_roles))


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def check_request() -> None:
    """Run before every view: authenticate and authorize, or raise."""
    if request.method == "OPTIONS":
        return
    declared = roles_of(request.endpoint)
    if declared == PUBLIC:
        return
    token = _token()
    if token is None:
        raise Unauthenticated()
    from app.api.database import get_db

    failures = current_app.extensions["vigil.auth_failures"]
    address = client_address()
    wait = failures.retry_after(address)
    # An address that failed too often gets no more hashing: only a key already
    # checked in this worker (one SHA-256) still passes.
    key = key_store.authenticate(get_db(), token, may_hash=wait is None)
    if key is None:
        if wait is not None:
            raise TooManyFailures(wait)
        failures.failed(address)
        raise Unauthenticated("This API key is not valid: unknown, malformed or revoked.")
    g.api_key = key
    g.actor = key.actor
    if not allows(declared, key.roles):
        needed = sorted(set(declared or ()) - {ADMIN}) + [ADMIN]
        held = ", ".join(sorted(key.roles)) or "no role"
        raise Forbidden(f"This endpoint needs the role {' or '.join(needed)}; this API key has {held}.",
                        [{"path": "$", "message": "missing role", "needed": needed, "held": sorted(key.roles)}])


def actor() -> Actor:
    return g.actor
