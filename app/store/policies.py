"""Fact contracts and rulesets as versions in the database: their rows, and the writes
of a ruleset version's lifecycle up to approval (publishing and retiring are in
publications.py). Checking, compiling and testing a version is the policy service's
(app/service/policies.py); this module stores what it decided, and imports no engine.

    draft --submit--> submitted --approve--> approved --publish--> published
      |                  |--reject--> rejected
      +------------------+------------------+----------------------+--retire--> retired

Only a draft's content can change. Version numbers are given by the server, per
ruleset or contract id, one after the last; the document's own ``version`` is set to
that number, so the engine's hash, and every decision, names the version stored.

Every step checks the lifecycle, writes the change and its audit event in one
transaction, and changes the policy token when it changes what is served (an approval
makes a version pinnable, a published contract version can be read), so every worker
reloads. Contract versions have the same lifecycle, without editing (a contract's
content never changes); only published ones are served.
Whoever wrote a version (created it or edited the draft) may not approve it: four
eyes, by person (a key's owner), not by key.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import sqlite_utils

from app.core import codec
from app.store import times
from app.store.audit import Actor, record_event
from app.store.db import immediate
from app.store.errors import LogUnavailable, PolicyNotFound, TooManyDrafts, WrongStatus

# Versions a caller may pin, and that every worker holds compiled.
SERVABLE = ("approved", "published")
# The statuses each lifecycle step starts from: the steps check it (``expect``), and a
# caller asks it (``allowed``) before offering a step.
STEPS = {"edit": ("draft",), "submit": ("draft",), "approve": ("submitted",), "reject": ("submitted",),
         "publish": ("approved", "published"), "retire": ("draft", "submitted", "approved", "published")}


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ContractVersion:
    contract_id: str
    version: int
    hash: str
    document: dict
    created_by: str
    created_at: str
    status: str = "published"
    submitted_by: str | None = None
    submitted_at: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    rejected_by: str | None = None
    rejected_at: str | None = None
    rejection_reason: str | None = None
    published_by: str | None = None
    published_at: str | None = None
    retired_by: str | None = None
    retired_at: str | None = None

    @property
    def target(self) -> str:
        return f"contract:{self.contract_id}@{self.version}"

    @property
    def key(self) -> str:
        return f"{self.contract_id}@{self.version}"

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "document"}


@dataclass(frozen=True)
class RulesetVersion:
    ruleset_id: str
    version: int
    status: str
    hash: str
    document: dict
    scenarios: dict | None
    title: str | None
    contract_id: str
    contract_version: int
    contributors: tuple[str, ...]
    created_by: str
    created_at: str
    updated_by: str | None = None
    updated_at: str | None = None
    submitted_by: str | None = None
    submitted_at: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    rejected_by: str | None = None
    rejected_at: str | None = None
    rejection_reason: str | None = None
    retired_by: str | None = None
    retired_at: str | None = None
    findings: list | None = None
    scenario_results: dict | None = None
    # The YAML the author wrote (comments kept), when the content came as text.
    document_text: str | None = None
    scenarios_text: str | None = None

    @property
    def target(self) -> str:
        return f"ruleset:{self.ruleset_id}@{self.version}"

    @property
    def as_written(self) -> tuple:
        """The document and the scenarios as their author wrote them: the YAML text (with
        its comments) when they came as text, else the stored data."""
        return (self.document if self.document_text is None else self.document_text,
                self.scenarios if self.scenarios_text is None else self.scenarios_text)

    @property
    def revision(self) -> str:
        """Changes with every save of a draft: an editor sends back the one it started from."""
        return self.updated_at or self.created_at

    def summary(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in _CONTENT}
        out["contributors"] = list(self.contributors)
        out["contract"] = {"id": self.contract_id, "version": self.contract_version}
        del out["contract_id"], out["contract_version"]
        out["revision"] = self.revision
        return out


_CONTENT = ("document", "scenarios", "document_text", "scenarios_text")  # not in a summary
_RULESET_COLUMNS = tuple(RulesetVersion.__dataclass_fields__)
_JSON_COLUMNS = {"document", "scenarios", "contributors", "findings", "scenario_results"}
_CONTRACT_COLUMNS = tuple(ContractVersion.__dataclass_fields__)


def _ruleset_row(row: tuple) -> RulesetVersion:
    values = dict(zip(_RULESET_COLUMNS, row))
    for key in _JSON_COLUMNS:
        if values[key] is not None:
            values[key] = json.loads(values[key])
    values["contributors"] = tuple(values["contributors"])
    return RulesetVersion(**values)


def _contract_row(row: tuple) -> ContractVersion:
    values = dict(zip(_CONTRACT_COLUMNS, row))
    values["document"] = json.loads(values["document"])
    return ContractVersion(**values)


# Key order is kept: it carries meaning (levels are listed lowest first).
_dump = codec.dumps


def _json(value) -> str | None:
    return None if value is None else _dump(value)


def _read(db: sqlite_utils.Database, sql: str, params=()) -> list[tuple]:
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable.") from exc


# ---------------------------------------------------------------- the policy token


def token(db: sqlite_utils.Database) -> str:
    """Changes whenever what is served changes; cheap enough to read every second."""
    rows = _read(db, "SELECT token FROM policy_state WHERE id = 1")
    return rows[0][0] if rows else ""


def touch(db: sqlite_utils.Database) -> None:
    """Call inside the transaction of a change to what is served."""
    db.execute("UPDATE policy_state SET token = lower(hex(randomblob(8))) WHERE id = 1")


# ---------------------------------------------------------------- contracts


def list_contracts(db: sqlite_utils.Database, contract_id: str | None = None,
                   statuses: tuple[str, ...] | None = None) -> list[ContractVersion]:
    """Contract versions; ``statuses`` only those (serving reads ``CONTRACT_SERVED`` only)."""
    sql = f"SELECT {', '.join(_CONTRACT_COLUMNS)} FROM contract_versions"
    where, params = [], []
    if contract_id is not None:
        where.append("contract_id = ?")
        params.append(contract_id)
    if statuses:
        where.append(f"status IN ({', '.join('?' * len(statuses))})")
        params.extend(statuses)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [_contract_row(r) for r in _read(db, sql + " ORDER BY contract_id, version", params)]


def contract_keys(db: sqlite_utils.Database, statuses: tuple[str, ...]) -> list[str]:
    """``id@version`` of the contract versions in ``statuses``, without reading their documents."""
    rows = _read(db, f"SELECT contract_id, version FROM contract_versions "
                     f"WHERE status IN ({', '.join('?' * len(statuses))}) ORDER BY contract_id, version", statuses)
    return [f"{cid}@{version}" for cid, version in rows]


def get_contract(db: sqlite_utils.Database, contract_id: str, version: int) -> ContractVersion:
    if not 0 < version < 2 ** 63:  # beyond what SQLite can even be asked about
        raise PolicyNotFound(f"No contract {contract_id!r} version {version} is stored.")
    rows = _read(db, f"SELECT {', '.join(_CONTRACT_COLUMNS)} FROM contract_versions "
                     "WHERE contract_id = ? AND version = ?", [contract_id, version])
    if not rows:
        raise PolicyNotFound(f"No contract {contract_id!r} version {version} is stored.")
    return _contract_row(rows[0])


@contextlib.contextmanager
def writing(db: sqlite_utils.Database, unavailable: str = "The database is unavailable; nothing was stored."):
    """One write transaction holding the write lock (IMMEDIATE); LogUnavailable with
    ``unavailable`` when the database cannot be written."""
    try:
        with immediate(db):
            yield
    except sqlite3.Error as exc:
        raise LogUnavailable(unavailable) from exc


# Drafts open at once (status draft), per ruleset or contract and in all: each holds a
# whole document (up to the size limits), so that authors cannot fill the database with
# them. A draft no longer needed is retired (or edited instead of starting another).
MAX_OPEN_DRAFTS = 20
MAX_OPEN_DRAFTS_IN_ALL = 500
_DRAFT_TABLES = {"ruleset": ("ruleset_versions", "ruleset_id"), "contract": ("contract_versions", "contract_id")}


def check_open_drafts(db: sqlite_utils.Database, kind: str, the_id: str) -> None:
    """Raise TooManyDrafts when one more draft of this ruleset or contract (``kind``)
    would pass MAX_OPEN_DRAFTS, or the drafts of every one MAX_OPEN_DRAFTS_IN_ALL. Call
    inside ``writing`` before the insert (and, cheaply, before compiling)."""
    table, column = _DRAFT_TABLES[kind]
    mine, in_all = _read(db, f"SELECT coalesce(sum({column} = ?), 0), count(*) FROM {table} WHERE status = 'draft'",
                         [the_id])[0]
    if mine >= MAX_OPEN_DRAFTS:
        raise TooManyDrafts(f"The {kind} {the_id} has {mine} drafts open, the most it may have: retire one no "
                            "longer needed, or edit one, before starting another. Nothing was stored.")
    if in_all >= MAX_OPEN_DRAFTS_IN_ALL:
        raise TooManyDrafts(f"{in_all} {kind} drafts are open, the most there may be: retire those no longer "
                            "needed before starting another. Nothing was stored.")


def next_contract_number(db: sqlite_utils.Database, contract_id: str) -> int:
    rows = _read(db, "SELECT max(version) FROM contract_versions WHERE contract_id = ?", [contract_id])
    return (rows[0][0] or 0) + 1


def contract_stored(db: sqlite_utils.Database, contract_id: str, version: int) -> bool:
    return db.execute("SELECT 1 FROM contract_versions WHERE contract_id = ? AND version = ?",
                      [contract_id, version]).fetchone() is not None


def insert_contract(db, contract, actor: Actor, details: dict, status: str = "draft", **extra) -> ContractVersion:
    """Store a checked contract (anything with ``id``, ``version``, ``hash`` and
    ``document``) with its status; call inside ``writing``. Only a published one
    changes what is served."""
    version = ContractVersion(contract.id, contract.version, contract.hash, contract.document, actor.person,
                              times.iso(times.now()), status, **extra)
    row = {k: (_json(v) if k == "document" else v) for k, v in version.__dict__.items()}
    db.execute(f"INSERT INTO contract_versions ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})", row)
    if status == "published":
        touch(db)
    record_event(db, actor, "contract.create", version.target, {**details, "status": status}, None, version.hash)
    return version


# The statuses of the contract versions serving reads, and that an approved or
# published ruleset version may name.
CONTRACT_SERVED = ("published",)
# The contract versions a ruleset draft may be checked against, in its author's own
# check and trial (never in serving): any not rejected or retired.
CONTRACT_DRAFTABLE = ("draft", "submitted", "approved", "published")
# The statuses each step of a contract version's lifecycle starts from (no edit: a
# contract's content never changes; a fix is a new version).
CONTRACT_STEPS = {"submit": ("draft",), "approve": ("submitted",), "reject": ("submitted",),
                  "publish": ("approved",), "retire": ("draft", "submitted", "approved", "published")}


@contextlib.contextmanager
def contract_step(db: sqlite_utils.Database, before: ContractVersion) -> Iterator[ContractVersion]:
    """A contract lifecycle step's transaction: the version must still have the status
    it was read with."""
    try:
        with immediate(db):
            now = get_contract(db, before.contract_id, before.version)
            if now.status != before.status:
                raise WrongStatus(f"Version {before.version} of contract {before.contract_id} changed meanwhile "
                                  f"(now {now.status}); nothing was done.")
            yield now
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; nothing was changed.") from exc


def set_contract_status(db, version: ContractVersion, status: str, **columns) -> None:
    sets = {"status": status, **columns}
    db.execute(f"UPDATE contract_versions SET {', '.join(f'{k} = ?' for k in sets)} "
               "WHERE contract_id = ? AND version = ?", [*sets.values(), version.contract_id, version.version])


def rulesets_naming(db: sqlite_utils.Database, contract_id: str, version: int,
                    statuses: tuple[str, ...]) -> list[str]:
    """``id@version`` of the ruleset versions in ``statuses`` that name this contract version."""
    rows = _read(db, "SELECT ruleset_id, version FROM ruleset_versions WHERE contract_id = ? AND contract_version = ? "
                     f"AND status IN ({', '.join('?' * len(statuses))}) ORDER BY ruleset_id, version",
                 [contract_id, version, *statuses])
    return [f"{rid}@{v}" for rid, v in rows]


# ---------------------------------------------------------------- ruleset versions


def list_versions(db: sqlite_utils.Database, ruleset_id: str | None = None,
                  statuses: tuple[str, ...] | None = None) -> list[RulesetVersion]:
    sql = f"SELECT {', '.join(_RULESET_COLUMNS)} FROM ruleset_versions"
    where, params = [], []
    if ruleset_id is not None:
        where.append("ruleset_id = ?")
        params.append(ruleset_id)
    if statuses:
        where.append(f"status IN ({', '.join('?' * len(statuses))})")
        params.extend(statuses)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [_ruleset_row(r) for r in _read(db, sql + " ORDER BY ruleset_id, version", params)]


def get_version(db: sqlite_utils.Database, ruleset_id: str, version: int) -> RulesetVersion:
    if not 0 < version < 2 ** 63:  # beyond what SQLite can even be asked about
        raise PolicyNotFound(f"Ruleset {ruleset_id!r} has no version {version}.")
    rows = _read(db, f"SELECT {', '.join(_RULESET_COLUMNS)} FROM ruleset_versions "
                     "WHERE ruleset_id = ? AND version = ?", [ruleset_id, version])
    if not rows:
        raise PolicyNotFound(f"Ruleset {ruleset_id!r} has no version {version}.")
    return _ruleset_row(rows[0])


def count_versions(db: sqlite_utils.Database) -> int:
    return _read(db, "SELECT count(*) FROM ruleset_versions")[0][0]


def next_number(db, ruleset_id: str) -> int:
    rows = _read(db, "SELECT max(version) FROM ruleset_versions WHERE ruleset_id = ?", [ruleset_id])
    return (rows[0][0] or 0) + 1


def insert_version(db, ruleset, document: dict, scenarios: dict | None, status: str, actor: Actor,
                   **extra) -> RulesetVersion:
    """Store a checked, compiled version (``ruleset``: anything with ``id``, ``version``,
    ``hash``, ``title`` and ``contract``); call inside ``writing``."""
    at = times.iso(times.now())
    version = RulesetVersion(
        ruleset_id=ruleset.id, version=ruleset.version, status=status, hash=ruleset.hash, document=document,
        scenarios=scenarios, title=ruleset.title or None, contract_id=ruleset.contract.id,
        contract_version=ruleset.contract.version, contributors=(actor.person,), created_by=actor.person,
        created_at=at, **extra)
    row = {k: (_json(v) if k in _JSON_COLUMNS else v) for k, v in version.__dict__.items()}
    row["contributors"] = _json(list(version.contributors))
    db.execute(f"INSERT INTO ruleset_versions ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})", row)
    return version


def update_draft(db, before: RulesetVersion, ruleset, document: dict, scenarios: dict | None,
                 contributors: tuple[str, ...], actor: Actor, document_text: str | None = None,
                 scenarios_text: str | None = None) -> None:
    """Replace a draft's content with a checked, compiled one; call inside ``step``."""
    db.execute(
        "UPDATE ruleset_versions SET document = ?, scenarios = ?, document_text = ?, scenarios_text = ?, hash = ?, "
        "title = ?, contract_id = ?, contract_version = ?, contributors = ?, updated_by = ?, updated_at = ? "
        "WHERE ruleset_id = ? AND version = ?",
        [_json(document), _json(scenarios), document_text, scenarios_text, ruleset.hash, ruleset.title or None,
         ruleset.contract.id, ruleset.contract.version, _json(list(contributors)), actor.person,
         times.iso(times.now()), before.ruleset_id, before.version])


def scenario_count(scenarios: dict | None) -> int:
    return len((scenarios or {}).get("scenarios") or [])


@contextlib.contextmanager
def step(db: sqlite_utils.Database, before: RulesetVersion) -> Iterator[RulesetVersion]:
    """A lifecycle step's transaction. The version must still be as it was read (same
    status, same content) when the step is written; yields it as it is now."""
    try:
        with immediate(db):
            now = get_version(db, before.ruleset_id, before.version)
            if (now.status, now.hash) != (before.status, before.hash):
                raise WrongStatus(f"Version {before.version} of {before.ruleset_id} changed meanwhile "
                                  f"(now {now.status}); nothing was done.")
            yield now
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; nothing was changed.") from exc


def allowed(version: RulesetVersion, step: str) -> bool:
    """Whether the version's status allows this lifecycle step (see STEPS)."""
    return version.status in STEPS[step]


def expect(version: RulesetVersion, statuses, verb: str) -> RulesetVersion:
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    if version.status not in statuses:
        raise WrongStatus(f"Version {version.version} of {version.ruleset_id} is {version.status}; "
                          f"only a version that is {' or '.join(statuses)} can be {_PAST[verb]}.")
    return version


_PAST = {"edit": "edited", "submit": "submitted", "approve": "approved", "reject": "rejected",
         "retire": "retired", "publish": "published"}


def set_status(db, version: RulesetVersion, status: str, **columns) -> None:
    sets = {"status": status, **columns}
    db.execute(f"UPDATE ruleset_versions SET {', '.join(f'{k} = ?' for k in sets)} "
               "WHERE ruleset_id = ? AND version = ?", [*sets.values(), version.ruleset_id, version.version])


def reject(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor, reason: str) -> RulesetVersion:
    """Send a submitted version back, for good: a fix is a new draft."""
    before = expect(get_version(db, ruleset_id, number), STEPS["reject"], "reject")
    at = times.iso(times.now())
    with step(db, before):
        set_status(db, before, "rejected", rejected_by=actor.person, rejected_at=at,
                   rejection_reason=reason)
        record_event(db, actor, "version.reject", before.target, {"reason": reason}, before.hash, before.hash)
    return get_version(db, ruleset_id, number)




def expect_contract(version: ContractVersion, step_name: str) -> ContractVersion:
    statuses = CONTRACT_STEPS[step_name]
    if version.status not in statuses:
        raise WrongStatus(f"Version {version.version} of contract {version.contract_id} is {version.status}; "
                          f"only a version that is {' or '.join(statuses)} can be {_PAST[step_name]}.")
    return version


def reject_contract(db: sqlite_utils.Database, contract_id: str, number: int, actor: Actor,
                    reason: str) -> ContractVersion:
    """Send a submitted contract version back, for good: a fix is a new version."""
    before = expect_contract(get_contract(db, contract_id, number), "reject")
    with contract_step(db, before):
        set_contract_status(db, before, "rejected", rejected_by=actor.person, rejected_at=times.iso(times.now()),
                            rejection_reason=reason)
        record_event(db, actor, "contract.reject", before.target, {"reason": reason}, before.hash, before.hash)
    return get_contract(db, contract_id, number)
