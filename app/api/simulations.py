"""Impact simulation over HTTP: what a stored ruleset version (a draft, say) would change
compared with another (by default the published one in effect), on snapshots sent
inline or on those in the decision log over a time window.

    POST /v1/simulations                     author, approve   202 {id, status, links}
    GET  /v1/simulations/{id}                its requester; audit   status, progress, the report
    GET  /v1/simulations/{id}/report.html    its requester; audit   the report as an HTML page

A simulation over the decision log reads customers' data, so it is a read of the log
like a search: an audit event (``decision.simulate``) when it is asked for, naming the
window and how many customers it covers, and another (``decision.simulation_read``)
each time its results are fetched. Results are shown to the person who asked (by key
owner) and to the roles that may read the log (audit, admin); to anyone else a
simulation does not exist (404).

The worker that receives the request runs the simulation in a background thread, in
its own process (``workers=0``: no process is forked from a web worker), one at a time
per worker, and writes its status and progress to the ``simulations`` row; any worker
answers GET from that row. A failure marks the row failed with the reason.
"""

from __future__ import annotations

import logging
import threading

from flask import Response, current_app, g, url_for
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app import store
from app.api import auth, headers, serving
from app.api.blueprint import Blueprint
from app.api.database import get_db
from app.api.errors import RequestInvalid
from app.engine import EngineError, RulesetInvalid
from app.portfolio import Change, SimulationReport, count_logged, log_time, logged_snapshots, render_html, simulate
from app.service import policies
from app.store import simulations as simulation_store
from app.store.audit import person_id, record_event
from app.store.errors import PolicyNotFound

log = logging.getLogger("vigil.simulations")

# Snapshots a request may carry inline; more come from the decision log (from/until).
SNAPSHOT_LIMIT = 5000
TOP_LIMIT = 100
# Progress is written at most once per this many snapshots (and at the end).
PROGRESS_EVERY = 200

# The engine holds the GIL and the portfolio code keeps one simulation's context per
# process, so a worker runs its simulations one after another.
_RUNNING = threading.Lock()

blp = Blueprint("simulations", __name__, url_prefix="/v1/simulations",
                description="Impact simulation: what a ruleset version would change, before it is published.")


class SimulationRequestSchema(Schema):
    ruleset_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    candidate_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2 ** 31),
                                       metadata={"description": "A stored version of any status (a draft too)."})
    baseline_version = fields.Integer(strict=True, validate=validate.Range(min=1, max=2 ** 31),
                                      metadata={"description": "Default: the version in effect now."})
    snapshots = fields.List(fields.Dict(), validate=validate.Length(min=1, max=SNAPSHOT_LIMIT),
                            metadata={"description": f"Up to {SNAPSHOT_LIMIT} snapshots, inline."})
    since = fields.String(data_key="from", validate=validate.Length(min=1, max=64),
                          metadata={"description": "ISO time or date: the decision log's snapshots from then..."})
    until = fields.String(validate=validate.Length(min=1, max=64),
                          metadata={"description": "... until (before) this ISO time or date; with `from`."})
    top = fields.Integer(strict=True, load_default=10, validate=validate.Range(min=0, max=TOP_LIMIT),
                         metadata={"description": "Most changed customers kept with both explanations."})

    @validates_schema
    def _one_source(self, data, **kwargs):
        window = "since" in data or "until" in data
        if "snapshots" in data and window:
            raise ValidationError("Give either `snapshots` or `from` and `until`, not both.", "snapshots")
        if not window and "snapshots" not in data:
            raise ValidationError("Give the snapshots inline (`snapshots`) or a window of the decision log "
                                  "(`from` and `until`).", "snapshots")
        if window:
            for key, name in (("since", "from"), ("until", "until")):
                if key not in data:
                    raise ValidationError("`from` and `until` go together.", name)
                try:
                    log_time(data[key])
                except ValueError as exc:
                    raise ValidationError(str(exc), name) from None


class ProgressSchema(Schema):
    done = fields.Integer(required=True)
    total = fields.Integer(allow_none=True, metadata={"description": "Null until it is known."})


class SimulationSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "queued, running, done or failed."})
    requested_by = fields.String(required=True)
    created_at = fields.String(required=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    params = fields.Dict(required=True, metadata={"description": "What was asked, with the versions' hashes."})
    progress = fields.Nested(ProgressSchema, required=True)
    error = fields.String(allow_none=True, metadata={"description": "Why it failed."})
    report = fields.Dict(allow_none=True, metadata={"description": "Once done: the simulation report."})
    links = fields.Dict(keys=fields.String(), values=fields.String())


class SimulationAcceptedSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    links = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


EXAMPLE = {"ruleset_id": "retail_card", "candidate_version": 1,
           "from": "2026-04-01T00:00:00Z", "until": "2026-05-01T00:00:00Z", "top": 10}


def _links(simulation_id: str) -> dict:
    return {"self": url_for("simulations.get_simulation", simulation_id=simulation_id),
            "report_html": url_for("simulations.get_report_html", simulation_id=simulation_id)}


def _body(simulation: simulation_store.Simulation) -> dict:
    return {**simulation.summary(), "report": simulation.report, "links": _links(simulation.id)}


@blp.route("", methods=["POST"])
@blp.roles("author", "approve")
@blp.arguments(SimulationRequestSchema, example=EXAMPLE)
@blp.response(202, SimulationAcceptedSchema, description="Accepted: poll `links.self` for progress and the report.")
@blp.errors(400, 404, 415, 422, 503)
def create_simulation(body):
    """Simulate a stored ruleset version against another on a set of snapshots, in the
    background.

    `candidate_version` may have any status (a draft too); `baseline_version` defaults
    to the version in effect now. The snapshots are given inline (`snapshots`, at most
    5000) or are the latest snapshot of each customer decided with the ruleset in the
    decision log between `from` and `until`. 404 `version_not_found` for an unknown
    ruleset or version; 422 `ruleset_invalid` or `check_budget_exceeded` for a version that
    does not compile within the budget of a check."""
    simulation = start(get_db(), auth.actor(), body["ruleset_id"], body["candidate_version"],
                       baseline_version=body.get("baseline_version"), snapshots=body.get("snapshots"),
                       since=body.get("since"), until=body.get("until"), top=body["top"])
    return {"id": simulation.id, "status": simulation.status, "links": _links(simulation.id)}


def start(db, actor, ruleset_id: str, candidate_version: int, *, baseline_version: int | None = None,
          snapshots: list | None = None, since: str | None = None, until: str | None = None,
          top: int = 10) -> simulation_store.Simulation:
    """Record a simulation and start it in a background thread of this worker (the
    console starts its simulations here too). Raises PolicyNotFound for an unknown
    ruleset or version."""
    candidate = policies.get_version(db, ruleset_id, candidate_version)
    in_effect = baseline_version is None
    if baseline_version is None:
        current = serving.library().in_effect(ruleset_id)
        if current is None:
            raise PolicyNotFound(f"No version of ruleset {ruleset_id!r} is in effect; give baseline_version.")
        baseline_version = current.version
    baseline = policies.get_version(db, ruleset_id, baseline_version)
    # Compiled in a checker first, within its budget, so that a version that would not
    # compile, or would take the worker down compiling, is refused (422) before this
    # worker compiles it for the simulation.
    for version in (candidate, baseline):
        policies.check_version(db, version, drafts=False)  # as the simulation compiles them
    params = {"ruleset_id": ruleset_id, "candidate_version": candidate.version, "candidate_hash": candidate.hash,
              "baseline_version": baseline.version, "baseline_hash": baseline.hash, "top": top,
              "candidate_origin": f"stored, {candidate.status}",
              "baseline_origin": f"stored, {baseline.status}" + (", in effect" if in_effect else "")}
    if snapshots is not None:
        params["snapshots"] = len(snapshots)
    else:
        params["from"], params["until"] = log_time(since), log_time(until)
    simulation = simulation_store.create(db, actor, params, len(snapshots) if snapshots is not None else None)
    if snapshots is None:
        customers = count_logged(db, ruleset_id, params["from"], params["until"])
        record_event(db, actor, "decision.simulate", "decisions",
                     {"simulation_id": simulation.id, "ruleset_id": ruleset_id, "from": params["from"],
                      "until": params["until"], "customers": customers})
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run, args=(app, simulation.id, baseline, candidate, snapshots, params),
                              name=f"simulation-{simulation.id}", daemon=True)
    thread.start()
    return simulation


def _readable(simulation_id: str) -> simulation_store.Simulation:
    """The simulation, if this caller may see it: the person who asked for it, or a role
    that may read the decision log. Fetching the results of one over the log is a read of
    the log, and an audit event."""
    db = get_db()
    simulation = simulation_store.get(db, simulation_id)
    actor = auth.actor()
    if person_id(simulation.requested_by) != person_id(actor.person) and \
            not {"audit", "admin"} & set(g.api_key.roles):
        raise simulation_store.SimulationNotFound()
    if simulation.status == "done" and "from" in simulation.params:
        record_event(db, actor, "decision.simulation_read", "decisions",
                     {"simulation_id": simulation.id, "ruleset_id": simulation.params.get("ruleset_id"),
                      "from": simulation.params["from"], "until": simulation.params["until"]})
    return simulation


@blp.route("/<string:simulation_id>", methods=["GET"])
@blp.roles("author", "approve", "audit")
@blp.response(200, SimulationSchema)
@blp.errors(404, 503)
def get_simulation(simulation_id):
    """A simulation's status and progress (`done` of `total` snapshots); once `done`, the
    report; once `failed`, the reason in `error`. Only for the person who asked for it
    and for `audit`; fetching a finished simulation over the log is a `decision.simulation_read`
    audit event."""
    return _body(_readable(simulation_id))


@blp.route("/<string:simulation_id>/report.html", methods=["GET"])
@blp.roles("author", "approve", "audit")
@blp.response(200, {"type": "string"}, content_type="text/html", description="A self-contained HTML page with charts.")
@blp.errors(404, 409, 503)
def get_report_html(simulation_id):
    """The report of a finished simulation as a self-contained HTML page (inline style
    and SVG charts, no script). 409 `simulation_not_done` before it is done."""
    simulation = _readable(simulation_id)
    if simulation.status != "done" or simulation.report is None:
        raise SimulationNotDone(f"Simulation {simulation_id} is {simulation.status}; the report is not ready.")
    return Response(render_html(report_from_dict(simulation.report)), mimetype="text/html",
                    headers={"Content-Security-Policy": headers.PAGE_CSP})


class SimulationNotDone(RequestInvalid):
    reason = "simulation_not_done"
    message = "The simulation has not finished."


def report_from_dict(data: dict) -> SimulationReport:
    """A SimulationReport back from its ``to_dict()``."""
    return SimulationReport(
        baseline=data["baseline"], candidate=data["candidate"], source=data["source"], snapshots=data["snapshots"],
        errors=data["errors"], changed=[Change(**c) for c in data["changed"]], levels=data["levels"],
        level_counts=data["level_counts"], action_counts=data["action_counts"], review_counts=data["review_counts"],
        level_moves=data["level_moves"]["matrix"], rules=data["rules"], rule_edits=data["rule_edits"],
        fired_differently=data["fired_differently"], top=data["top"], seconds=data["seconds"],
        action_titles=data.get("action_titles") or {}, param_changes=data.get("param_changes") or [],
        data_quality_counts=data.get("data_quality_counts") or {})


# ---------------------------------------------------------------- the background run


def _run(app, simulation_id: str, baseline_version: policies.RulesetVersion,
         candidate_version: policies.RulesetVersion, snapshots: list | None, params: dict) -> None:
    """Run one simulation and record how it went. Never raises."""
    config = app.config
    db = reader = None

    def connect():
        return store.connect(config["VIGIL_DATABASE"], synchronous=config["VIGIL_SQLITE_SYNCHRONOUS"],
                             busy_timeout_ms=config["VIGIL_SQLITE_BUSY_TIMEOUT_MS"])

    try:
        db = connect()
        with _RUNNING:
            if snapshots is None:
                reader = connect()
            _simulate(db, reader, simulation_id, baseline_version, candidate_version, snapshots, params)
    except Exception as exc:  # noqa: BLE001 - a failed simulation is a row marked failed, never a crash
        log.error("simulation failed", extra={"simulation_id": simulation_id}, exc_info=exc)
        reason = _reason(exc)
        try:
            if db is None:
                db = store.connect(config["VIGIL_DATABASE"])
            simulation_store.fail(db, simulation_id, reason)
        except Exception as inner:  # noqa: BLE001
            log.error("simulation not marked failed", extra={"simulation_id": simulation_id}, exc_info=inner)
    finally:
        for connection in (reader, db):
            if connection is not None:
                try:
                    connection.close()
                except Exception:  # noqa: BLE001
                    pass


def _reason(exc: Exception) -> str:
    if isinstance(exc, RulesetInvalid):
        return "the ruleset version does not compile: " + "; ".join(str(p) for p in exc.problems)[:2000]
    if isinstance(exc, EngineError | store.StoreError):
        return str(getattr(exc, "message", None) or exc)[:2000]
    if isinstance(exc, ValueError):
        return str(exc)[:2000]
    return "internal error; see the service log"


def _simulate(db, reader, simulation_id, baseline_version, candidate_version, snapshots, params) -> None:
    baseline = policies.compile_document(db, baseline_version.document, baseline_version.target)
    candidate = policies.compile_document(db, candidate_version.document, candidate_version.target)
    if snapshots is not None:
        total, items, source = len(snapshots), snapshots, f"{len(snapshots):,} snapshots sent inline"
    else:
        # The log is read on a connection of its own, so progress is written beside an open read.
        since, until = params["from"], params["until"]
        total = count_logged(reader, baseline.id, since, until)
        items = logged_snapshots(reader, baseline.id, since, until)
        source = f"the decision log, {since} to {until}"
    simulation_store.start(db, simulation_id, total)
    written = {"done": 0}

    def on_chunk(done: int) -> None:
        if done - written["done"] >= PROGRESS_EVERY:
            simulation_store.progress(db, simulation_id, done)
            written["done"] = done

    report = simulate(baseline, candidate, items, top=params["top"], workers=0, source=source, on_chunk=on_chunk,
                      baseline_origin=params.get("baseline_origin"), candidate_origin=params.get("candidate_origin"))
    simulation_store.finish(db, simulation_id, report.to_dict())
