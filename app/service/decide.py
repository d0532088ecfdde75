"""The one way a decision is made, for every caller.

``decide()`` takes a request (ruleset id, optional version, customer id, snapshot,
explain, client request id), the policies served, the masker and the clock, and gives
the decision ready to log: its time, request hash, masking, log row and the response
text. ``POST /v1/decisions``, the batch endpoint, ``portfolio review --log`` and the
simulations all call it. Nothing here writes: a caller that logs hands the rows to
``log()``; a trial (a scenario run, a simulation, a snapshot tried against a draft) is
the same call without logging.

What is logged is the snapshot as validated against its contract, in the codec's one
form (decimals as plain text, dates ISO), masked where the contract marks a field
personal: every fact the decision used, and a replay of it reads exactly those.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import sqlite_utils

from app.core import codec
from app.core.clock import now as clock_now
from app.engine import SEMANTICS_VERSION, Evaluation, Ruleset, RulesetNotFound, SnapshotInvalid
from app.engine.followup import FOLLOW_UP, split_facts
from app.engine.masking import Masker, Redaction
from app.service import followup
from app.store import decision_log
from app.store.decision_log import Decision, Logged
from app.store.tasks import FollowUps

# The result part of a decision: logged in its own column for audit queries, and the
# middle of the response body.
RESULT_KEYS = ("level", "review_frequency", "actions", "overridden", "signals", "fired", "data_quality")


class Policies(Protocol):
    """What decisions are made with: the served policies, or one ruleset (``Pinned``)."""

    def ruleset(self, ruleset_id: str, version: int | None = None, at: dt.datetime | None = None) -> Ruleset: ...


class Pinned:
    """One ruleset version as the policies to decide with: a portfolio review, each side
    of a simulation, a draft tried."""

    def __init__(self, ruleset: Ruleset):
        self.pinned = ruleset

    def ruleset(self, ruleset_id: str, version: int | None = None, at: dt.datetime | None = None) -> Ruleset:
        ruleset = self.pinned
        if ruleset_id != ruleset.id or version not in (None, ruleset.version):
            raise RulesetNotFound(f"only ruleset {ruleset.id}@{ruleset.version} is used here, "
                                  f"not {ruleset_id}@{version or 'in effect'}")
        return ruleset


@dataclass(frozen=True)
class DecisionRequest:
    ruleset_id: str
    customer_id: str
    snapshot: Any
    ruleset_version: int | None = None
    explain: str = "summary"
    client_request_id: str | None = None
    # Who asks (an API key's owner): their client_request_ids are theirs alone. None for
    # the service's own ids (a portfolio review's), which are unique by construction.
    caller: str | None = None

    @classmethod
    def from_item(cls, item: dict, caller: str | None = None) -> "DecisionRequest":
        """From a ``POST /v1/decisions`` body as its schema loaded it."""
        return cls(ruleset_id=item["ruleset_id"], customer_id=item["customer_id"], snapshot=item["snapshot"],
                   ruleset_version=item.get("ruleset_version"), explain=item.get("explain") or "summary",
                   client_request_id=item.get("client_request_id"), caller=caller)

    @property
    def logged_request_id(self) -> str | None:
        """The client_request_id as the log keeps it: scoped to the caller."""
        if self.caller is None:
            return self.client_request_id
        return decision_log.scoped_request_id(self.caller, self.client_request_id)


def utc_now() -> dt.datetime:
    """The time decisions are made at: app.core.clock's (real time unless configured)."""
    return clock_now()


# The request hash logged with a decision made without a client_request_id: nothing
# can retry it, so nothing will compare a hash of its request (see request_hash).
NO_REQUEST_HASH = ""


def request_hash(request: DecisionRequest, masker: Masker | None = None) -> str:
    """What identifies a request, for client_request_id retries: the request as sent,
    in the codec's canonical form. With masking on it is a keyed hash: a plain hash of
    a snapshot could be checked against guessed personal values.

    Only a request with a client_request_id is hashed: the hash is what a retry under
    the same id is compared with, and it is never read otherwise. A decision made
    without one logs NO_REQUEST_HASH."""
    if request.client_request_id is None:
        return NO_REQUEST_HASH
    text = codec.canonical({"ruleset_id": request.ruleset_id, "ruleset_version": request.ruleset_version,
                            "customer_id": request.customer_id, "explain": request.explain,
                            "snapshot": request.snapshot})
    if masker is not None:
        return masker.digest(text)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def named_customer(snapshot: Any) -> str | None:
    """The customer id a snapshot names (``customer.id``), if it names one."""
    if isinstance(snapshot, dict):
        customer = snapshot.get("customer")
        if isinstance(customer, dict) and isinstance(customer.get("id"), str):
            return customer["id"]
    return None


def check_customer(customer_id: str, validated: dict) -> None:
    """A decision is logged under its customer_id, and searched and held by it: when
    the snapshot names its customer too, the two must agree. Raises SnapshotInvalid."""
    named = named_customer(validated)
    if named is not None and named != customer_id:
        raise SnapshotInvalid([{
            "path": "customer_id",
            "message": f"customer_id {codec.dumps(customer_id)} is not the customer the snapshot is about: "
                       f"snapshot.customer.id is {codec.dumps(named)}; send the same id in both"}])


class Decided:
    """One decision made: the evaluation, the validated snapshot, and (built when first
    asked for, so a trial pays nothing for it) the row to log, whose ``response`` is the
    text to answer."""

    def __init__(self, request: DecisionRequest, ruleset: Ruleset, evaluation: Evaluation, validated: dict,
                 redaction: Redaction | None, masker: Masker | None, at: dt.datetime, evaluation_ms: float,
                 total_ms: float):
        self.request = request
        self.ruleset = ruleset
        self.evaluation = evaluation
        self.validated = validated
        self.redaction = redaction
        self.masker = masker
        self.at = at
        self.evaluation_ms = evaluation_ms
        self.total_ms = total_ms

    def follow_ups(self, default_queue: str = followup.DEFAULT_QUEUE) -> FollowUps | None:
        """The follow-up tasks this decision asks for, to log with it."""
        return followup.for_decided(self, default_queue)

    @cached_property
    def row(self) -> Decision:
        request, result = self.request, self.evaluation.to_dict()
        decided_at = codec.text_of(self.at)
        decision_id = str(uuid.uuid4())
        head = {"decision_id": decision_id, "decided_at": decided_at, "customer_id": request.customer_id,
                "client_request_id": request.client_request_id, "ruleset": result["ruleset"]}
        outcome = {k: result[k] for k in RESULT_KEYS}
        tail = {"not_fired": result.get("not_fired", [])} if request.explain == "full" else {}
        tail["explain"] = request.explain
        tail["timing"] = {"evaluation_ms": round(self.evaluation_ms, 3), "total_ms": round(self.total_ms, 3)}
        result_json = codec.dumps(outcome)
        trail_json = codec.dumps(result["trail"])
        # The answer is head + outcome + trail + tail as one JSON object, assembled from
        # the texts logged in the result and trail columns rather than written twice.
        response = (f"{codec.dumps(head)[:-1]},{result_json[1:-1]},\"trail\":{trail_json},"
                    f"{codec.dumps(tail)[1:]}")
        # dumps writes decimals and dates as plain() would: a plain copy only for masking.
        snapshot = self.validated
        if self.redaction is not None:
            snapshot = self.redaction.snapshot(codec.plain(snapshot))
        return Decision(
            id=decision_id, decided_at=decided_at, customer_id=request.customer_id,
            ruleset_id=self.evaluation.ruleset_id, ruleset_version=self.evaluation.ruleset_version,
            ruleset_hash=self.evaluation.ruleset_hash, client_request_id=request.logged_request_id,
            request_hash=request_hash(request, self.masker), level=outcome["level"],
            review_frequency=outcome["review_frequency"], snapshot=codec.dumps(snapshot), result=result_json,
            trail=trail_json, response=response, masked=self.redaction.label if self.redaction is not None else None,
            semantics_version=SEMANTICS_VERSION)


def decide(request: DecisionRequest, policies: Policies, *, masker: Masker | None = None,
           clock: Callable[[], dt.datetime] = utc_now, started: float | None = None,
           validated: dict | None = None, follow_up: followup.FactsReader | None = None) -> Decided:
    """Make one decision. Without a pinned version, the ruleset is the version in effect
    at the decision's time. ``validated``: the snapshot already validated against the
    ruleset's contract (a portfolio review validates on its own fast path). ``started``:
    when the caller started on the request (``time.perf_counter()``), for the timing.
    ``follow_up``: where the customer's follow-up facts are read (for a ruleset that reads
    ``overdue_follow_up``; they become part of the decision's input and are logged).

    Raises EngineError (RulesetNotFound, SnapshotInvalid, EvaluationError ...); writes
    nothing."""
    started = time.perf_counter() if started is None else started
    at = clock()
    ruleset = policies.ruleset(request.ruleset_id, request.ruleset_version, at=at)
    if validated is None:
        # A trial (no facts to read) may state the customer's follow-up facts in the snapshot.
        snapshot, stated = (request.snapshot, None) if follow_up is not None else split_facts(request.snapshot)
        validated = ruleset.contract.validate(snapshot)
        if stated is not None:
            validated = {**validated, FOLLOW_UP: stated}
    check_customer(request.customer_id, validated)
    validated = followup.with_facts(ruleset, validated, request.customer_id, at, follow_up)
    redaction = masker.redaction(ruleset.contract) if masker is not None else None
    t0 = time.perf_counter()
    evaluation = ruleset.run(validated, request.explain, mask=redaction)
    t1 = time.perf_counter()
    return Decided(request, ruleset, evaluation, validated, redaction, masker, at, (t1 - t0) * 1000,
                   (t1 - started) * 1000)


class RequestIdReused(Exception):
    """The client_request_id was logged before for a different request."""

    reason = "client_request_id_reused"
    message = "This client_request_id was already used for a different request."


def earlier(db: sqlite_utils.Database, request: DecisionRequest, masker: Masker | None = None) -> Decision | None:
    """The decision already logged for this request's client_request_id, if any.
    Raises RequestIdReused when that id was logged for a different request."""
    if request.client_request_id is None:
        return None
    found = decision_log.by_client_request_id(db, request.logged_request_id)
    if masker is not None and found is not None and found.masked:
        # Masked with an older key (before a rotation): its hash is that key's.
        masker = masker.with_label(found.masked) or masker
    if found is not None and found.request_hash != request_hash(request, masker):
        raise RequestIdReused()
    return found


def log(db: sqlite_utils.Database, rows: Sequence[Decision],
        follow_ups: Sequence[FollowUps | None] | None = None) -> list[Logged | RequestIdReused]:
    """Commit decision rows (``Decided.row``) to the log in one transaction, in order,
    with the follow-up tasks each asks for (``Decided.follow_ups``), opened or updated in
    the same transaction.
    For each: what the log holds now (the decision, or the earlier one logged for its
    client_request_id), or RequestIdReused when that earlier one was for a different
    request. Raises LogUnavailable when nothing could be logged."""
    out: list[Logged | RequestIdReused] = []
    for row, entry in zip(rows, decision_log.record(db, rows, follow_ups)):
        if entry.replayed and entry.decision.request_hash != row.request_hash:
            out.append(RequestIdReused())
        else:
            out.append(entry)
    return out
