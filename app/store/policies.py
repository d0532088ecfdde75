"""Fact contracts and rulesets as versions in the database, and a ruleset version's
lifecycle up to approval (publishing is in publications.py).

    draft --submit--> submitted --approve--> approved --publish--> published
      |                  |--reject--> rejected
      +------------------+------------------+----------------------+--retire--> retired

Only a draft's content can change. Version numbers are given by the server, per
ruleset or contract id, one after the last; the document's own ``version`` is set to
that number, so the engine's hash, and every decision, names the version stored.

Every step checks the lifecycle, writes the change and its audit event in one
transaction, and changes the policy token when it changes what is served (an approval
makes a version pinnable, a new contract can be named), so every worker reloads.
Whoever wrote a version (created it or edited the draft) may not approve it: four
eyes, by person (a key's owner), not by key.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils
import yaml

from app.engine import EngineError, FactContract, Library, Problem, Ruleset, RulesetInvalid, read_yaml
from app.engine.analysis import analyse
from app.engine.library import ruleset_files
from app.engine.scenarios import check_scenario
from app.core import codec
from app.store import times
from app.store.audit import SYSTEM, Actor, record_event
from app.store.db import immediate
from app.store.errors import ApprovalRefused, FourEyes, LogUnavailable, PolicyNotFound, WrongStatus

STATUSES = ("draft", "submitted", "approved", "published", "rejected", "retired")
# Versions a caller may pin, and that every worker holds compiled.
SERVABLE = ("approved", "published")


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ContractVersion:
    contract_id: str
    version: int
    hash: str
    document: dict
    created_by: str
    created_at: str

    @property
    def target(self) -> str:
        return f"contract:{self.contract_id}@{self.version}"


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

    @property
    def target(self) -> str:
        return f"ruleset:{self.ruleset_id}@{self.version}"

    def summary(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("document", "scenarios")}
        out["contributors"] = list(self.contributors)
        out["contract"] = {"id": self.contract_id, "version": self.contract_version}
        del out["contract_id"], out["contract_version"]
        return out


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


# ---------------------------------------------------------------- documents


def parse_document(value, source: str) -> dict:
    """A document given as a mapping or as YAML text, as the plain JSON data it is
    stored as (YAML dates become ISO strings), or RulesetInvalid."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise RulesetInvalid([Problem(source, f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                                          line=mark.line + 1 if mark is not None else None)]) from None
    if not isinstance(value, dict):
        raise RulesetInvalid([Problem(source, "the document must be a mapping")])
    return json.loads(_dump(value))


def _without_version(document: dict) -> str:
    return _dump({k: v for k, v in document.items() if k != "version"})


def check_scenarios(document: dict | None, ruleset_id: str, source: str) -> None:
    """The shape of a scenarios document; what each scenario expects is checked by running it."""
    if document is None:
        return
    problems = []
    if not isinstance(document.get("scenarios"), list):
        problems.append(Problem(source, "a scenarios document needs a list of 'scenarios'", path="scenarios"))
    else:
        for n, scenario in enumerate(document["scenarios"]):
            if not isinstance(scenario, dict):
                problems.append(Problem(source, "each scenario is a mapping", path=f"scenarios.{n}"))
    ref = document.get("ruleset")
    if ref is not None and str(ref).partition("@")[0] != ruleset_id:
        problems.append(Problem(source, f"the scenarios are for ruleset {ref!r}, not {ruleset_id!r}", path="ruleset"))
    if not isinstance(document.get("bases", {}) or {}, dict):
        problems.append(Problem(source, "bases must be a mapping of named snapshots", path="bases"))
    if problems:
        raise RulesetInvalid(problems)


def library_of_contracts(db: sqlite_utils.Database) -> Library:
    """A Library holding every stored contract version, to compile a ruleset against."""
    library = Library()
    for version in list_contracts(db):
        library.add_contract(version.document, version.target)
    return library


def compile_document(db: sqlite_utils.Database, document: dict, source: str) -> Ruleset:
    """Check and compile a ruleset document against the stored contracts. Raises RulesetInvalid."""
    return library_of_contracts(db).compile_ruleset(document, source)


def run_scenarios(ruleset: Ruleset, scenarios: dict | None) -> dict:
    """Every scenario's outcome, and the rules none of them fires."""
    results, fired = [], set()
    for n, scenario in enumerate((scenarios or {}).get("scenarios") or []):
        name = str(scenario.get("name") or f"scenario {n + 1}")
        try:
            result = check_scenario(ruleset, scenario, (scenarios or {}).get("bases") or {})
        except EngineError as exc:
            results.append({"name": name, "passed": False, "diffs": [f"evaluation failed: {exc.reason}"]})
            continue
        fired.update(result.fired)
        results.append({"name": result.name, "passed": result.passed, "diffs": list(result.diffs)})
    passed = sum(r["passed"] for r in results)
    return {"passed": passed, "failed": len(results) - passed, "results": results,
            "unfired_rules": [r.id for r in ruleset.rules if r.id not in fired]}


def review(ruleset: Ruleset, scenarios: dict | None) -> tuple[list[dict], dict]:
    """The static-check findings and the scenario results a reviewer sees."""
    return [f.to_dict() for f in analyse(ruleset)], run_scenarios(ruleset, scenarios)


# ---------------------------------------------------------------- contracts


def list_contracts(db: sqlite_utils.Database, contract_id: str | None = None) -> list[ContractVersion]:
    sql = f"SELECT {', '.join(_CONTRACT_COLUMNS)} FROM contract_versions"
    params: list = []
    if contract_id is not None:
        sql += " WHERE contract_id = ?"
        params.append(contract_id)
    return [_contract_row(r) for r in _read(db, sql + " ORDER BY contract_id, version", params)]


def get_contract(db: sqlite_utils.Database, contract_id: str, version: int) -> ContractVersion:
    rows = _read(db, f"SELECT {', '.join(_CONTRACT_COLUMNS)} FROM contract_versions "
                     "WHERE contract_id = ? AND version = ?", [contract_id, version])
    if not rows:
        raise PolicyNotFound(f"No contract {contract_id!r} version {version} is stored.")
    return _contract_row(rows[0])


def _insert_contract(db, contract: FactContract, actor: Actor, details: dict) -> ContractVersion:
    version = ContractVersion(contract.id, contract.version, contract.hash, contract.document, actor.person,
                              times.iso(times.now()))
    db.execute("INSERT INTO contract_versions (contract_id, version, hash, document, created_by, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               [version.contract_id, version.version, version.hash, _json(version.document), version.created_by,
                version.created_at])
    touch(db)
    record_event(db, actor, "contract.create", version.target, details, None, version.hash)
    return version


def add_contract(db: sqlite_utils.Database, contract_id: str, document, actor: Actor) -> ContractVersion:
    """Store a new contract version (numbered by the server). Raises RulesetInvalid."""
    source = f"contract {contract_id}"
    document = parse_document(document, source)
    _own_id(document, contract_id, source)
    while True:
        rows = _read(db, "SELECT max(version) FROM contract_versions WHERE contract_id = ?", [contract_id])
        number = (rows[0][0] or 0) + 1
        document["version"] = number
        contract = FactContract(document, source)
        try:
            with immediate(db):
                if db.execute("SELECT 1 FROM contract_versions WHERE contract_id = ? AND version = ?",
                              [contract_id, number]).fetchone():
                    continue  # someone else took this number meanwhile
                return _insert_contract(db, contract, actor, {})
        except sqlite3.Error as exc:
            raise LogUnavailable("The database is unavailable; nothing was stored.") from exc


def _own_id(document: dict, expected: str, source: str) -> None:
    if document.get("id") is None:
        document["id"] = expected
    elif document["id"] != expected:
        raise RulesetInvalid([Problem(source, f"the document's id {document['id']!r} is not {expected!r}, "
                                              "the id it is stored under", path="id")])


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


def _next_number(db, ruleset_id: str) -> int:
    rows = _read(db, "SELECT max(version) FROM ruleset_versions WHERE ruleset_id = ?", [ruleset_id])
    return (rows[0][0] or 0) + 1


def _prepare(db, ruleset_id: str, document, scenarios, number: int) -> tuple[dict, dict | None, Ruleset]:
    source = f"{ruleset_id}@{number}"
    document = parse_document(document, source)
    _own_id(document, ruleset_id, source)
    document["version"] = number
    if scenarios is not None:
        scenarios = parse_document(scenarios, f"{source} scenarios")
        check_scenarios(scenarios, ruleset_id, f"{source} scenarios")
    return document, scenarios, compile_document(db, document, source)


def _insert_version(db, ruleset: Ruleset, document: dict, scenarios: dict | None, status: str, actor: Actor,
                    **extra) -> RulesetVersion:
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


def create_draft(db: sqlite_utils.Database, ruleset_id: str, document, scenarios, actor: Actor) -> RulesetVersion:
    """Store a new draft version. The document is checked and compiled against the stored
    contracts first; an invalid one raises RulesetInvalid and nothing is stored."""
    while True:
        number = _next_number(db, ruleset_id)
        document_, scenarios_, ruleset = _prepare(db, ruleset_id, document, scenarios, number)
        try:
            with immediate(db):
                if _next_number(db, ruleset_id) != number:
                    continue  # someone else took this number meanwhile: compile again
                version = _insert_version(db, ruleset, document_, scenarios_, "draft", actor)
                record_event(db, actor, "version.create", version.target,
                             {"status": "draft", "scenarios": _count(scenarios_)}, None, version.hash)
                return version
        except sqlite3.Error as exc:
            raise LogUnavailable("The database is unavailable; nothing was stored.") from exc


def _count(scenarios: dict | None) -> int:
    return len((scenarios or {}).get("scenarios") or [])


KEEP = object()  # edit_draft: keep the draft's scenarios


def edit_draft(db: sqlite_utils.Database, ruleset_id: str, number: int, document, actor: Actor,
               scenarios=KEEP) -> RulesetVersion:
    """Replace a draft's document (and its scenarios, when given; None removes them)."""
    before = _expect(get_version(db, ruleset_id, number), "draft", "edit")
    if scenarios is KEEP:
        scenarios = before.scenarios
    document_, scenarios_, ruleset = _prepare(db, ruleset_id, document, scenarios, number)
    at = times.iso(times.now())
    with _step(db, before) as current:
        contributors = tuple(dict.fromkeys(current.contributors + (actor.person,)))
        db.execute(
            "UPDATE ruleset_versions SET document = ?, scenarios = ?, hash = ?, title = ?, contract_id = ?, "
            "contract_version = ?, contributors = ?, updated_by = ?, updated_at = ? "
            "WHERE ruleset_id = ? AND version = ?",
            [_json(document_), _json(scenarios_), ruleset.hash, ruleset.title or None, ruleset.contract.id,
             ruleset.contract.version, _json(list(contributors)), actor.person, at, ruleset_id, number])
        record_event(db, actor, "version.edit", before.target, {"scenarios": _count(scenarios_)},
                     before.hash, ruleset.hash)
    return get_version(db, ruleset_id, number)


@contextlib.contextmanager
def _step(db: sqlite_utils.Database, before: RulesetVersion) -> Iterator[RulesetVersion]:
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


def _expect(version: RulesetVersion, statuses, verb: str) -> RulesetVersion:
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    if version.status not in statuses:
        raise WrongStatus(f"Version {version.version} of {version.ruleset_id} is {version.status}; "
                          f"only a version that is {' or '.join(statuses)} can be {_PAST[verb]}.")
    return version


_PAST = {"edit": "edited", "submit": "submitted", "approve": "approved", "reject": "rejected",
         "retire": "retired", "publish": "published"}


def _set_status(db, version: RulesetVersion, status: str, **columns) -> None:
    sets = {"status": status, **columns}
    db.execute(f"UPDATE ruleset_versions SET {', '.join(f'{k} = ?' for k in sets)} "
               "WHERE ruleset_id = ? AND version = ?", [*sets.values(), version.ruleset_id, version.version])


def submit(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor) -> RulesetVersion:
    """Freeze a draft for review: run the static checks and the scenarios, and keep
    what they found with the version."""
    before = _expect(get_version(db, ruleset_id, number), "draft", "submit")
    ruleset = compile_document(db, before.document, before.target)
    findings, results = review(ruleset, before.scenarios)
    at = times.iso(times.now())
    with _step(db, before):
        _set_status(db, before, "submitted", submitted_by=actor.person, submitted_at=at,
                    findings=_json(findings), scenario_results=_json(results))
        record_event(db, actor, "version.submit", before.target,
                     {"findings": len(findings), "scenarios_passed": results["passed"],
                      "scenarios_failed": results["failed"]}, before.hash, before.hash)
    return get_version(db, ruleset_id, number)


def approve(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor) -> RulesetVersion:
    """Approve a submitted version. Refused (FourEyes) to anyone who wrote it, and
    (ApprovalRefused) when it no longer validates or any scenario fails: both are
    checked again now, not taken from the submission. A refusal is an audit event too
    (``version.approve_refused``): who tried, and why it was refused."""
    before = _expect(get_version(db, ruleset_id, number), "submitted", "approve")
    writers = set(before.contributors) | {before.submitted_by}
    if actor.person in writers:
        raise _refused(db, before, actor, FourEyes(
            f"{actor.person} wrote or submitted version {number} of {ruleset_id}; someone else must approve it."))
    try:
        ruleset = compile_document(db, before.document, before.target)
    except RulesetInvalid as exc:
        raise _refused(db, before, actor, ApprovalRefused("The version no longer validates.", exc.details())) \
            from None
    results = run_scenarios(ruleset, before.scenarios)
    if results["failed"]:
        raise _refused(db, before, actor, ApprovalRefused(
            f"{results['failed']} of {results['passed'] + results['failed']} scenario(s) fail.",
            [{"path": f"scenarios.{r['name']}", "message": "; ".join(r["diffs"])}
             for r in results["results"] if not r["passed"]]))
    at = times.iso(times.now())
    with _step(db, before):
        _set_status(db, before, "approved", approved_by=actor.person, approved_at=at,
                    scenario_results=_json(results))
        touch(db)
        record_event(db, actor, "version.approve", before.target,
                     {"scenarios_passed": results["passed"], "contributors": list(before.contributors)},
                     before.hash, before.hash)
    return get_version(db, ruleset_id, number)


def _refused(db, version: RulesetVersion, actor: Actor, error: Exception) -> Exception:
    """Record a refused approval (in its own transaction: the refusal changes nothing
    else) and hand back the error to raise."""
    record_event(db, actor, "version.approve_refused", version.target,
                 {"reason": error.reason, "message": error.message}, version.hash, version.hash)
    return error


def reject(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor, reason: str) -> RulesetVersion:
    """Send a submitted version back, for good: a fix is a new draft."""
    before = _expect(get_version(db, ruleset_id, number), "submitted", "reject")
    at = times.iso(times.now())
    with _step(db, before):
        _set_status(db, before, "rejected", rejected_by=actor.person, rejected_at=at,
                    rejection_reason=reason)
        record_event(db, actor, "version.reject", before.target, {"reason": reason}, before.hash, before.hash)
    return get_version(db, ruleset_id, number)


def retire(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor) -> RulesetVersion:
    """Take a version out of use: it can no longer be published, pinned or rolled back
    to. The version in effect, or one scheduled to take effect, cannot be retired."""
    from app.store import publications

    before = _expect(get_version(db, ruleset_id, number), ("draft", "submitted", "approved", "published"), "retire")
    at = times.iso(times.now())
    with _step(db, before):
        history = publications.list_publications(db, ruleset_id)
        current = publications.in_effect(history, at)
        if current is not None and current.version == number:
            raise WrongStatus(f"Version {number} of {ruleset_id} is in effect; publish another version first.")
        if any(p.version == number and p.effective_at > at for p in history):
            raise WrongStatus(f"Version {number} of {ruleset_id} is scheduled to take effect; "
                              "it cannot be retired.")
        _set_status(db, before, "retired", retired_by=actor.person, retired_at=at)
        touch(db)
        record_event(db, actor, "version.retire", before.target, {"status_before": before.status},
                     before.hash, before.hash)
    return get_version(db, ruleset_id, number)


# ---------------------------------------------------------------- shipped files


def _shown(path: Path) -> str:
    """A shipped file as the record names it: its folder and name, not where it was installed."""
    return f"{path.parent.name}/{path.name}"


@dataclass
class ImportReport:
    bootstrap: bool
    lines: list[str] = field(default_factory=list)


def import_files(db: sqlite_utils.Database, rulesets_dir, schemas_dir, actor: Actor = SYSTEM) -> ImportReport:
    """Import the shipped contracts and rulesets (with their scenarios).

    Into a database with no ruleset yet, each shipped ruleset becomes a published
    version, with the version number its file gives, by ``actor``. Into one that has
    rulesets, a contract version not yet stored is added, and a ruleset whose content
    differs from every stored version becomes a new *submitted* version, which someone
    must still approve and publish; content already stored is skipped. Everything is
    checked before anything is written: any problem raises RulesetInvalid listing them
    all, and nothing is imported.
    """
    problems: list[Problem] = []
    stored = {(c.contract_id, c.version): c for c in list_contracts(db)}
    library = Library()
    for c in stored.values():
        library.add_contract(c.document, c.target)
    new_contracts: list[tuple[FactContract, str]] = []
    for path in sorted(Path(schemas_dir).glob("*.yaml")):
        try:
            document = parse_document(read_yaml(path), str(path))
            contract = FactContract(document, str(path))
        except RulesetInvalid as exc:
            problems.extend(exc.problems)
            continue
        existing = stored.get((contract.id, contract.version))
        if existing is not None:
            if existing.hash != contract.hash:
                problems.append(Problem(str(path), f"contract {contract.key} is stored with other content; "
                                                   "a contract version never changes: raise the version",
                                        path="version"))
            continue
        try:
            library.add_contract(document, str(path))
        except RulesetInvalid as exc:
            problems.extend(exc.problems)
            continue
        new_contracts.append((contract, _shown(path)))

    bootstrap = count_versions(db) == 0
    planned: list[tuple[Ruleset, dict, dict | None, str, tuple | None]] = []
    next_numbers: dict[str, int] = {}
    for path in ruleset_files(Path(rulesets_dir)):
        try:
            document = parse_document(read_yaml(path), str(path))
            sibling = path.with_name(path.name[:-len(".yaml")] + ".scenarios.yaml")
            scenarios = parse_document(read_yaml(sibling), str(sibling)) if sibling.exists() else None
            ruleset_id = document.get("id")
            if scenarios is not None and isinstance(ruleset_id, str):
                check_scenarios(scenarios, ruleset_id, str(sibling))
            if not bootstrap and isinstance(ruleset_id, str):
                versions = list_versions(db, ruleset_id)
                if any(_without_version(v.document) == _without_version(document) for v in versions):
                    continue
                number = next_numbers.get(ruleset_id) or (max((v.version for v in versions), default=0) + 1)
                next_numbers[ruleset_id] = number + 1
                document["version"] = number
            ruleset = library.compile_ruleset(document, str(path))
        except RulesetInvalid as exc:
            problems.extend(exc.problems)
            continue
        planned.append((ruleset, document, scenarios, _shown(path), None if bootstrap else review(ruleset, scenarios)))
    if problems:
        raise RulesetInvalid(problems)

    report = ImportReport(bootstrap)
    try:
        with immediate(db):
            for contract, path in new_contracts:
                _insert_contract(db, contract, actor, {"file": path})
                report.lines.append(f"contract {contract.key} imported from {path}")
            for ruleset, document, scenarios, path, reviewed in planned:
                if bootstrap:
                    version = _insert_version(db, ruleset, document, scenarios, "published", actor)
                    record_event(db, actor, "version.import", version.target, {"file": path, "status": "published"},
                                 None, version.hash)
                    from app.store import publications

                    publications.insert_publication(db, version, "publish", times.now(), actor)
                    report.lines.append(f"ruleset {ruleset.key} imported from {path} and published")
                else:
                    findings, results = reviewed
                    at = times.iso(times.now())
                    version = _insert_version(db, ruleset, document, scenarios, "submitted", actor,
                                              submitted_by=actor.person, submitted_at=at,
                                              findings=findings, scenario_results=results)
                    record_event(db, actor, "version.import", version.target, {"file": path, "status": "submitted"},
                                 None, version.hash)
                    report.lines.append(f"ruleset {ruleset.key} imported from {path} as submitted: "
                                        "approve and publish it to serve it")
            if new_contracts or planned:
                touch(db)
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; nothing was imported.") from exc
    return report
