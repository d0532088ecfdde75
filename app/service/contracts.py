"""The lifecycle of a fact contract version, under the same four eyes as a ruleset's.

    draft --submit--> submitted --approve--> approved --publish--> published
      |                  |--reject--> rejected
      +------------------+------------------+----------------------+--retire--> retired

An author stores a contract version as a draft; serving reads published versions only
(served.py), so nothing an author alone writes is read by a worker, a simulation or a
replay. A ruleset draft may name a contract version still under review, for its
author's own checks and trials; a ruleset version can be approved only once the
contract version it names is published (policies.approve), since an approved version
is served. A contract's content never changes once stored (a fix is a new version):
only its status moves, each step in one transaction with its audit event
(``contract.<step>``). Whoever created or submitted a version may not approve it, nor
may anyone with a key that one of them made.
"""

from __future__ import annotations

import sqlite_utils

from app.engine import FactContract, RulesetInvalid
from app.service.policies import own_id, parse_document
from app.store import policies as store
from app.store import times
from app.store.audit import Actor, person_id, record_event
from app.store.errors import ApprovalRefused, FourEyes, WrongStatus
from app.store.policies import (  # noqa: F401
    CONTRACT_STEPS,
    ContractVersion,
    get_contract,
    list_contracts,
)
from app.store.policies import reject_contract as reject  # noqa: F401


def check(contract_id: str, document, number: int = 1) -> FactContract:
    """A contract document checked as storing it as version ``number`` would, storing
    nothing. Raises RulesetInvalid naming the contract, each field path and what is wrong."""
    source = f"contract {contract_id}"
    document = parse_document(document, source)
    own_id(document, contract_id, source)
    document["version"] = number
    return FactContract(document, source)


def create(db: sqlite_utils.Database, contract_id: str, document, actor: Actor) -> ContractVersion:
    """Store a new contract version as a draft (numbered by the server, one after the
    last). The document is checked strictly first; an invalid one raises RulesetInvalid
    and nothing is stored. At most store.MAX_OPEN_DRAFTS drafts are open per contract
    (TooManyDrafts)."""
    store.check_open_drafts(db, "contract", contract_id)  # before the work of checking
    while True:
        number = store.next_contract_number(db, contract_id)
        contract = check(contract_id, document, number)
        with store.writing(db):
            if store.contract_stored(db, contract_id, number):
                continue  # someone else took this number meanwhile
            store.check_open_drafts(db, "contract", contract_id)
            return store.insert_contract(db, contract, actor, {}, "draft")


def submit(db: sqlite_utils.Database, contract_id: str, number: int, actor: Actor,
           note: str | None = None) -> ContractVersion:
    """Put a draft up for review; a note for the approver goes in the audit event."""
    before = store.expect_contract(get_contract(db, contract_id, number), "submit")
    with store.contract_step(db, before):
        store.set_contract_status(db, before, "submitted", submitted_by=actor.person,
                                  submitted_at=times.iso(times.now()))
        record_event(db, actor, "contract.submit", before.target, {"note": note} if note else {},
                     before.hash, before.hash)
    return get_contract(db, contract_id, number)


def writers(version: ContractVersion) -> set[str]:
    """Who wrote or submitted the version, as ``person_id`` compares people."""
    return {person_id(p) for p in (version.created_by, version.submitted_by) if p}


def approve(db: sqlite_utils.Database, contract_id: str, number: int, actor: Actor) -> ContractVersion:
    """Approve a submitted version: FourEyes to whoever wrote or submitted it (or holds
    a key one of them made); ApprovalRefused when it no longer passes the checks (run
    again now). A refusal is an audit event (``contract.approve_refused``)."""
    before = store.expect_contract(get_contract(db, contract_id, number), "approve")
    if person_id(actor.person) in writers(before):
        raise _refused(db, before, actor, FourEyes(
            f"{actor.person} wrote or submitted version {number} of contract {contract_id}; "
            "someone else must approve it."))
    if actor.key_created_by is not None and person_id(actor.key_created_by) in writers(before):
        raise _refused(db, before, actor, FourEyes(
            f"The key {actor.key_id} was made by {actor.key_created_by}, who wrote or submitted version {number} "
            f"of contract {contract_id}; approve with a key someone else made."))
    try:
        FactContract(before.document, before.target)
    except RulesetInvalid as exc:
        raise _refused(db, before, actor, ApprovalRefused("The contract version no longer validates.",
                                                          exc.details)) from None
    with store.contract_step(db, before):
        store.set_contract_status(db, before, "approved", approved_by=actor.person,
                                  approved_at=times.iso(times.now()))
        record_event(db, actor, "contract.approve", before.target, {"created_by": before.created_by},
                     before.hash, before.hash)
    return get_contract(db, contract_id, number)


def publish(db: sqlite_utils.Database, contract_id: str, number: int, actor: Actor) -> ContractVersion:
    """Make an approved version available to serving: ruleset versions that name it can
    then be approved and published. Every worker loads it on its next check."""
    before = store.expect_contract(get_contract(db, contract_id, number), "publish")
    with store.contract_step(db, before):
        store.set_contract_status(db, before, "published", published_by=actor.person,
                                  published_at=times.iso(times.now()))
        store.touch(db)
        record_event(db, actor, "contract.publish", before.target, {"approved_by": before.approved_by},
                     before.hash, before.hash)
    return get_contract(db, contract_id, number)


def retire(db: sqlite_utils.Database, contract_id: str, number: int, actor: Actor) -> ContractVersion:
    """Take a version out of use. Refused (WrongStatus) while an approved or published
    ruleset version names it: serving that version needs it."""
    before = store.expect_contract(get_contract(db, contract_id, number), "retire")
    with store.contract_step(db, before):
        users = store.rulesets_naming(db, contract_id, number, store.SERVABLE)
        if users:
            raise WrongStatus(f"Contract {contract_id}@{number} is read by ruleset version(s) {', '.join(users)}, "
                              "which are approved or published; retire those first.")
        store.set_contract_status(db, before, "retired", retired_by=actor.person,
                                  retired_at=times.iso(times.now()))
        if before.status == "published":
            store.touch(db)
        record_event(db, actor, "contract.retire", before.target, {"status_before": before.status},
                     before.hash, before.hash)
    return get_contract(db, contract_id, number)


def allowed(version: ContractVersion, step: str) -> bool:
    """Whether the version's status allows this lifecycle step (see CONTRACT_STEPS)."""
    return version.status in CONTRACT_STEPS[step]


def _refused(db, version: ContractVersion, actor: Actor, error: Exception) -> Exception:
    record_event(db, actor, "contract.approve_refused", version.target,
                 {"reason": error.reason, "message": error.message}, version.hash, version.hash)
    return error
