"""Liveness, readiness and metrics, for the platform rather than for clients."""

from __future__ import annotations

from flask import Response, current_app

from app import store
from app.api import metrics, serving
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.errors import RulesetsUnavailable
from app.api.schemas import HealthSchema, ReadySchema, RootSchema
from app.service import served
from app.store import decision_log

CLEAR_NOTE = ("Masking is off: personal fields are stored, indexed and exported in clear. "
              "Set VIGIL_MASK_PERSONAL=true and VIGIL_MASK_KEY (README, Production).")

blp = Blueprint("operations", __name__, description="Health and metrics.")


@blp.route("/", methods=["GET"])
@blp.public
@blp.response(200, RootSchema)
def root():
    """Where to start: the API docs, the OpenAPI document, and the console."""
    out = {"service": "Vigil, post-loan decisions", "docs": "/docs", "openapi": "/openapi.json"}
    if "console" in current_app.blueprints:
        out["console"] = "/console"
    return out


@blp.route("/healthz", methods=["GET"])
@blp.public
@blp.response(200, HealthSchema)
def healthz():
    """The process is alive and answering. Checks nothing else."""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.public
@blp.response(200, ReadySchema)
@blp.errors(503)
def readyz():
    """Ready for decisions: the decision log is reachable and migrated, and rulesets are loaded.

    A stored version that could not be loaded does not make the service unready (every
    instance reads the same database, so taking this one out of rotation would only stop
    the rulesets that work): the status is then `degraded`, `failed` names each such
    version with its problems, and decisions that need it are refused with 503
    `ruleset_version_unavailable`. Not ready (503) when no ruleset at all is loaded."""
    library = serving.library()
    failed = [{"version": target, "problems": problems} for target, problems in sorted(library.failures.items())]
    if not library.rulesets():
        raise RulesetsUnavailable(details=[{"path": f["version"], "message": line}
                                           for f, line in zip(failed, served.failure_lines(library))])
    db = get_db()
    decision_log.check(db)
    if store.pending_migrations(db):
        raise store.LogUnavailable("The decision log has migrations not yet applied.")
    masked = current_app.extensions.get("vigil.masker") is not None
    return {"status": "degraded" if failed else "ready", "rulesets": len(library.rulesets()), "failed": failed,
            "personal_fields": "masked" if masked else "clear",
            "notes": served.failure_lines(library) + ([] if masked else [CLEAR_NOTE])}


@blp.route("/metrics", methods=["GET"])
@blp.public  # counts and latencies only, no customer data; scrapers rarely carry keys
@blp.doc(responses={"200": {"description": "Prometheus text exposition format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
def prometheus_metrics():
    """Decisions by ruleset, action and level; request latency; errors by reason."""
    return Response(metrics.get().exposition(), content_type=metrics.CONTENT_TYPE)
