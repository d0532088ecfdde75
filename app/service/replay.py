"""Explaining and replaying a logged decision with the ruleset version it was made under.

Both read that version from the policies store and compile it (kept compiled for the
next call while its stored content is the same), never from what a worker happens to
serve: a replay must use the version as stored now, so a change to the stored version
shows up as a difference, and a version that is no longer served can still be replayed.

A masked decision (see app/engine/masking.py) logged keyed hashes for its personal
fields. Replay re-evaluates it exactly when the caller sends the original snapshot, which
must mask to the logged one; without it, replay fills the masked fields with values of
their type and is exact only if no rule of the version reads a personal field, and says
which rules do otherwise.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import sqlite_utils

from app.core import codec
from app.engine import SEMANTICS_VERSION, EngineError, Ruleset, RulesetInvalid, SnapshotInvalid
from app.engine.followup import FOLLOW_UP, split_facts
from app.engine.masking import Masker, Redaction
from app.engine.narrative import explain as narrate
from app.service import policies
from app.store import decision_log
from app.store.errors import PolicyNotFound

_CACHE_SIZE = 8
_cache: OrderedDict[str, Ruleset] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class StoredVersion:
    ruleset: Ruleset | None        # None when the stored version no longer compiles
    stored_hash: str | None        # the hash the store holds for it
    problem: str | None = None


def stored_version(db: sqlite_utils.Database, ruleset_id: str, version: int) -> StoredVersion:
    """The stored ruleset version, compiled. Raises LogUnavailable; a missing version or
    one that no longer compiles is reported, not raised."""
    try:
        stored = policies.get_version(db, ruleset_id, version)
    except PolicyNotFound:
        return StoredVersion(None, None, f"ruleset {ruleset_id} version {version} is not stored")
    contract = policies.get_contract(db, stored.contract_id, stored.contract_version)
    key = hashlib.sha256(codec.canonical([stored.document, contract.document]).encode()).hexdigest()
    with _cache_lock:
        ruleset = _cache.get(key)
        if ruleset is not None:
            _cache.move_to_end(key)
    if ruleset is None:
        try:
            ruleset = policies.compile_document(db, stored.document, stored.target, replay=True)
        except RulesetInvalid as exc:
            return StoredVersion(None, stored.hash, "the stored version no longer compiles: " +
                                 "; ".join(p["message"] for p in exc.details[:3]))
        with _cache_lock:
            _cache[key] = ruleset
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)[1].close()
    return StoredVersion(ruleset, stored.hash)


def _redaction(decision: decision_log.Decision, ruleset: Ruleset, masker: Masker | None) -> Redaction | None:
    masker = masker.with_label(decision.masked) if masker is not None and decision.masked else None
    if masker is None:
        return None
    return masker.redaction(ruleset.contract)


# ---------------------------------------------------------------- explanation


def explanation(db: sqlite_utils.Database, decision_id: str) -> dict:
    """The narrative of a logged decision, and its machine trail. Thresholds are read
    from the version it was made under when that still compiles to the logged hash and
    the snapshot is whole; otherwise the values are told as the trail logged them."""
    decision = decision_log.get(db, decision_id)
    result, trail = json.loads(decision.result), json.loads(decision.trail)
    version = stored_version(db, decision.ruleset_id, decision.ruleset_version)
    ruleset, data, source = version.ruleset, None, "trail"
    if ruleset is not None and ruleset.hash == decision.ruleset_hash and not decision.masked:
        try:
            # As the rules saw it: an implausible value read as missing.
            # (the follow-up facts it was given are not part of the contract)
            snapshot, facts = split_facts(codec.loads(decision.snapshot))
            data, _ = ruleset.contract.screen(ruleset.contract.validate(snapshot))
            if facts is not None:
                data = {**data, FOLLOW_UP: facts}
            source = "ruleset"
        except SnapshotInvalid:
            data = None
    story = narrate(result, trail, ruleset if data is not None else None, data)
    return {"decision_id": decision.id, "decided_at": decision.decided_at, "customer_id": decision.customer_id,
            "ruleset": {"id": decision.ruleset_id, "version": decision.ruleset_version, "hash": decision.ruleset_hash},
            "thresholds_from": source, **story, "trail": trail}


# ---------------------------------------------------------------- replay


def outcome(result: dict, trail: list[dict]) -> dict:
    """What a replay compares: the rules fired in order, the final and overridden actions
    with their parameters and rules, the signals, the level and review frequency, the
    values each fired rule read, and the data-quality findings."""
    return {
        "fired": list(result.get("fired") or ()),
        "actions": [{"action": a["action"], "params": a.get("params") or {}, "rules": list(a.get("rules") or ())}
                    for a in result.get("actions") or ()],
        "overridden": [{"action": o["action"], "params": o.get("params") or {}, "rules": list(o.get("rules") or ()),
                        "by": o.get("by")} for o in result.get("overridden") or ()],
        "signals": list(result.get("signals") or ()),
        "level": result.get("level"),
        "review_frequency": result.get("review_frequency"),
        "values": {f["rule"]: f.get("values") or {} for f in trail},
        # Logged before plausibility checks existed: none.
        "data_quality": list(result.get("data_quality") or ()),
    }


def diff(logged: dict, replayed: dict) -> dict:
    out = {}
    for key in logged:
        if logged[key] != replayed.get(key):
            entry = {"logged": logged[key], "replayed": replayed.get(key)}
            if key == "fired":
                entry["no_longer_fired"] = [r for r in logged[key] if r not in replayed[key]]
                entry["newly_fired"] = [r for r in replayed[key] if r not in logged[key]]
            out[key] = entry
    return out


def replay(db: sqlite_utils.Database, decision_id: str, *, masker: Masker | None = None,
           original_snapshot: dict | None = None) -> dict:
    """Evaluate the logged snapshot again under the stored ruleset version and compare.

    ``identical`` is True or False when the replay could run, None when it could not
    (the version is gone or does not compile, or a masked snapshot without its original
    is read by the rules) or when it differs and the decision was made under other
    evaluation semantics (``semantics``: the logged and the engine's version); ``notes``
    says why, and whether the stored version still has the hash the decision was made
    under."""
    decision = decision_log.get(db, decision_id)
    logged = outcome(json.loads(decision.result), json.loads(decision.trail))
    explain = json.loads(decision.response).get("explain", "summary")
    version = stored_version(db, decision.ruleset_id, decision.ruleset_version)
    report = {"decision_id": decision.id,
              "ruleset": {"id": decision.ruleset_id, "version": decision.ruleset_version,
                          "logged_hash": decision.ruleset_hash, "stored_hash": version.stored_hash,
                          "compiled_hash": version.ruleset.hash if version.ruleset else None},
              "masked": decision.masked is not None, "identical": None, "diff": {}, "notes": [], "logged": logged,
              "replayed": None,
              # Decisions logged before the version was recorded were made under the first.
              "semantics": {"logged": decision.semantics_version or 1, "engine": SEMANTICS_VERSION}}
    notes = report["notes"]
    if version.ruleset is None:
        notes.append(version.problem)
        return report
    ruleset = version.ruleset
    if ruleset.hash != decision.ruleset_hash or version.stored_hash != decision.ruleset_hash:
        notes.append(f"the stored version's content no longer matches the hash the decision was made under "
                     f"({decision.ruleset_hash}): it was changed after the decision")
    snapshot = codec.loads(decision.snapshot)
    redaction = None
    if decision.masked:
        redaction = _redaction(decision, ruleset, masker)
        if redaction is None:
            notes.append("the snapshot was masked with a key this service does not hold; it cannot be replayed")
            return report
        if original_snapshot is not None:
            # Compared as logged: validated, in the codec's form, then masked.
            try:
                original = codec.plain(ruleset.contract.validate(original_snapshot))
            except SnapshotInvalid:
                original = original_snapshot
            as_logged, facts = split_facts(snapshot)  # the follow-up facts are logged, not sent
            if codec.canonical(redaction.snapshot(original)) != codec.canonical(as_logged):
                notes.append("the snapshot sent is not the one the decision was made on: its fields do not "
                             "mask to the logged ones")
                return report
            snapshot = original_snapshot if facts is None else {**original_snapshot, FOLLOW_UP: facts}
            notes.append("replayed on the original snapshot sent, which masks to the logged one")
        else:
            # The engine writes a list element's field as loans[]account_id.
            readers = sorted(r.id for r in ruleset.rules
                             if any(redaction.personal(p.replace("[]", "[].").replace("[]..", "[].")) for p in r.paths))
            if readers:
                notes.append("the snapshot's personal fields are masked and rules " + ", ".join(readers) +
                             " read them: send the original snapshot to replay it")
                return report
            snapshot = redaction.unmask_shape(snapshot)
            notes.append("personal fields are masked; no rule of this version reads them")
    elif original_snapshot is not None:
        notes.append("the decision was not masked: its logged snapshot is replayed, the one sent is not used")
    try:
        evaluation = ruleset.evaluate(snapshot, explain=explain, mask=redaction).to_dict()
    except EngineError as exc:
        notes.append(f"the logged snapshot could not be evaluated again: {exc.reason}")
        report["identical"] = False
        return report
    replayed = outcome(json.loads(codec.dumps(evaluation)), json.loads(codec.dumps(evaluation["trail"])))
    identical = logged == replayed
    report.update(identical=identical, diff=diff(logged, replayed), replayed=replayed)
    if not identical and report["semantics"]["logged"] != report["semantics"]["engine"]:
        # Not a changed decision: the engine evaluates differently now.
        report["identical"] = None
        notes.append(f"the semantics differ: the decision was made under evaluation semantics version "
                     f"{report['semantics']['logged']}, this engine's is {SEMANTICS_VERSION}; the difference "
                     "shown may come from that change")
    return report
