"""The policy service: fact contracts and rulesets from a document to what is served.

Import of the shipped files, and the lifecycle of a ruleset version

    draft --submit--> submitted --approve--> approved --publish--> published
      |                  |--reject--> rejected
      +------------------+------------------+----------------------+--retire--> retired

Here a document is parsed, checked and compiled against the stored contracts, its
static checks and scenario tests run; the store (app/store/policies.py,
publications.py) keeps the rows, each step in one transaction with its audit event.
Only a draft's content can change. Version numbers are given by the server, per
ruleset or contract id, one after the last; the document's own ``version`` is set to
that number, so the engine's hash, and every decision, names the version stored.
Whoever wrote a version (created it or edited the draft) may not approve it: four
eyes, by person (a key's owner), not by key.

What a worker serves is ``served.load`` (served.py); replaying and explaining a
logged decision is replay.py; the lifecycle of a contract version is contracts.py. An
author's document is compiled, and its scenarios run, only in a checker process within
a budget (checker.py): the ``*_check`` functions here are what runs there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from app.core import codec
from app.engine import EngineError, FactContract, Library, Problem, Ruleset, RulesetInvalid, read_yaml
from app.engine.analysis import analyse
from app.engine.library import parse_yaml, read_text, ruleset_files
from app.engine.masking import Masker
from app.engine.scenarios import check_scenario
from app.service import checker
from app.service.decide import Decided, DecisionRequest, Pinned, decide, named_customer
from app.store import policies as store
from app.store import publications, times
from app.store.audit import SYSTEM, Actor, person_id, record_event
from app.store.errors import ApprovalRefused, EditConflict, FourEyes, PolicyNotFound
# The rows and the steps that need no checking, for callers of the policy service.
from app.store.policies import SERVABLE, ContractVersion, RulesetVersion, get_contract, get_version  # noqa: F401
from app.store.policies import count_versions, list_contracts, list_versions, reject, token  # noqa: F401
from app.store.policies import STEPS, allowed  # noqa: F401
from app.store.publications import Publication, in_effect, list_publications, publish, retire  # noqa: F401
from app.store.publications import rollback  # noqa: F401

checker.preload(__name__)  # the *_check functions below run in checker processes


# ---------------------------------------------------------------- documents

def parse_document(value, source: str) -> dict:
    """A document given as a mapping or as YAML text, as the plain JSON data it is
    stored as (YAML dates become ISO strings), or RulesetInvalid."""
    if isinstance(value, str):
        value = parse_yaml(value, source)
    if not isinstance(value, dict):
        raise RulesetInvalid([Problem(source, "the document must be a mapping")])
    return json.loads(codec.dumps(value))


_VERSION_LINE = re.compile(r"^version:[ \t]*([^\s#]*)", re.M)  # the top-level key, at the start of a line
_ID_LINE = re.compile(r"^id:[^\n]*", re.M)


def kept_text(text, document: dict, source: str, set_version: bool = True) -> str | None:
    """The author's YAML, to be shown again as written (comments, order, layout), with
    its top-level ``version:`` set to the stored number; None when the content was not
    text, or the text cannot be kept so that it reads as exactly the stored document
    (then it is shown as the document is stored)."""
    if not isinstance(text, str):
        return None
    if set_version and "version" in document:
        number = str(document["version"])
        found = _VERSION_LINE.search(text)
        if found is not None:
            text = text[:found.start(1)] + number + text[found.end(1):]
        else:
            named = _ID_LINE.search(text)
            if named is None:
                return None
            text = f"{text[:named.end()]}\nversion: {number}{text[named.end():]}"
    try:
        same = parse_document(text, source) == document
    except RulesetInvalid:
        return None
    return text if same else None


def _without_version(document: dict) -> str:
    return codec.dumps({k: v for k, v in document.items() if k != "version"})


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
    """A Library holding every published contract version, to compile a ruleset against."""
    library = Library()
    for version in store.list_contracts(db, statuses=store.CONTRACT_SERVED):
        library.add_contract(version.document, version.target)
    return library


def compile_document(db: sqlite_utils.Database, document: dict, source: str, drafts: bool = False,
                     replay: bool = False) -> Ruleset:
    """Check and compile a ruleset document against the contract version it names,
    which must be published; with ``drafts`` (an author's own check and trial of a
    ruleset draft, never serving) it may also be a draft, submitted or approved one;
    with ``replay`` (a logged decision made when it was published) a retired one.
    Only that one contract is read and checked. Raises RulesetInvalid."""
    library = Library()
    for contract_document, contract_source, _ in contract_for(db, document, source, drafts, replay):
        library.add_contract(contract_document, contract_source)
    return library.compile_ruleset(document, source)


def contract_for(db: sqlite_utils.Database, document: dict, source: str, drafts: bool = False,
                 replay: bool = False) -> tuple:
    """The contract version ``document`` names, as ``compile_document`` may use it, as
    data a checker compiles against: ``((document, source, hash),)``; none when the
    document names none as id@version (compiling says so). Raises RulesetInvalid."""
    statuses = store.CONTRACT_DRAFTABLE if drafts else store.CONTRACT_SERVED
    if replay:
        statuses = (*store.CONTRACT_SERVED, "retired")
    ref = document.get("contract") if isinstance(document, dict) else None
    cid, _, number = ref.partition("@") if isinstance(ref, str) else ("", "", "")
    stored = None
    if number.isascii() and number.isdigit() and len(number) < 10:
        try:
            stored = store.get_contract(db, cid, int(number))
        except PolicyNotFound:
            pass
    if stored is not None and stored.status in statuses:
        return ((stored.document, stored.target, stored.hash),)
    if stored is not None:
        raise RulesetInvalid([Problem(source, f"contract {ref} is {stored.status}: "
                                              + ("only a published contract version can be used here"
                                                 if not drafts else "it can no longer be used"),
                                      path="contract")])
    elif isinstance(ref, str) and "@" in ref:
        keys = store.contract_keys(db, statuses)
        known = ", ".join(keys[:20]) + (f" and {len(keys) - 20} more" if len(keys) > 20 else "") or "none"
        raise RulesetInvalid([Problem(source, f"contract {ref!r} is not stored (usable: {known}); "
                                              "write it as id@version", path="contract")])
    return ()


def run_scenarios(ruleset: Ruleset, scenarios: dict | None) -> dict:
    """Every scenario's outcome, and the rules none of them fires."""
    results, fired = [], set()
    for n, scenario in enumerate((scenarios or {}).get("scenarios") or []):
        name = str(scenario.get("name") or f"scenario {n + 1}")
        try:
            result = check_scenario(ruleset, scenario, (scenarios or {}).get("bases") or {},
                                    evaluate=lambda snapshot: trial(ruleset, snapshot, "full").evaluation)
        except EngineError as exc:
            results.append({"name": name, "passed": False, "diffs": [f"evaluation failed: {exc.reason}"]})
            continue
        fired.update(result.fired)
        results.append({"name": result.name, "passed": result.passed, "diffs": list(result.diffs)})
    passed = sum(r["passed"] for r in results)
    return {"passed": passed, "failed": len(results) - passed, "results": results,
            "unfired_rules": [r.id for r in ruleset.rules if r.id not in fired]}


def trial(ruleset: Ruleset, snapshot, explain: str = "summary", masker: Masker | None = None) -> Decided:
    """A decision on ``snapshot`` with ``ruleset`` (any version, a draft too) made by the one
    decision path, as a trial: nothing is logged. The customer is the one the snapshot
    names. Raises EngineError (SnapshotInvalid ...)."""
    request = DecisionRequest(ruleset_id=ruleset.id, customer_id=named_customer(snapshot) or "", snapshot=snapshot,
                              ruleset_version=ruleset.version, explain=explain)
    return decide(request, Pinned(ruleset), masker=masker)


def try_version(db: sqlite_utils.Database, ruleset_id: str, version: int, snapshot, explain: str = "summary",
                masker: Masker | None = None) -> str:
    """Try a snapshot against a stored version of any status (a draft before it is
    submitted, say), in a checker: compiled as stored, decided as a trial, nothing
    logged; the answer's text as a logged decision would read. Raises PolicyNotFound,
    RulesetInvalid (it no longer compiles), EngineError or a checker's budget error."""
    stored = store.get_version(db, ruleset_id, version)
    return checker.run(_trial_check, _stored_contract(db, stored), stored.document, stored.target, snapshot, explain,
                       masker)


def _stored_contract(db, stored: RulesetVersion, drafts: bool | None = None) -> tuple:
    # a draft's own check and trial may read a contract version still under review; nothing served does
    drafts = stored.status not in SERVABLE if drafts is None else drafts
    return contract_for(db, stored.document, stored.target, drafts)


def _trial_check(contracts, document, source, snapshot, explain, masker) -> str:
    return trial(checker.compiled(contracts, document, source), snapshot, explain, masker).row.response


def check_version(db: sqlite_utils.Database, stored: RulesetVersion, drafts: bool | None = None) -> checker.Checked:
    """A stored version compiled in a checker, as a worker would load it (``drafts``:
    whether its contract may be one under review; by default when the version itself
    is). Raises RulesetInvalid or a checker's budget error."""
    return checker.run(_compile_check, _stored_contract(db, stored, drafts), stored.document, stored.target)


def _compile_check(contracts, document, source) -> checker.Checked:
    return checker.Checked.of(checker.compiled(contracts, document, source))


def scenario_outcomes(db: sqlite_utils.Database, stored: RulesetVersion) -> dict:
    """A stored version's scenarios run in a checker, as submission and approval run
    them: ``run_scenarios``' results, with, for each failing scenario, what it got
    (``got``: level, review, actions, params, fired, signals)."""
    return checker.run(_outcomes_check, _stored_contract(db, stored), stored.document, stored.target,
                       stored.scenarios)


def _outcomes_check(contracts, document, source, scenarios) -> dict:
    from app.engine.scenarios import build_snapshot

    ruleset = checker.compiled(contracts, document, source)
    results = run_scenarios(ruleset, scenarios)
    bases = (scenarios or {}).get("bases") or {}
    for result, scenario in zip(results["results"], (scenarios or {}).get("scenarios") or []):
        result["got"] = None
        if isinstance(scenario, dict) and not result["passed"]:
            try:
                ev = trial(ruleset, build_snapshot(scenario, bases)).evaluation
            except (EngineError, KeyError, IndexError, TypeError, ValueError):
                continue
            result["got"] = {"level": ev.level, "review": ev.review_frequency, "actions": list(ev.action_names),
                             "params": {a.action: dict(a.params) for a in ev.actions if a.params},
                             "fired": list(ev.fired), "signals": list(ev.signals)}
    return results


def review(ruleset: Ruleset, scenarios: dict | None) -> tuple[list[dict], dict]:
    """The static-check findings and the scenario results a reviewer sees."""
    return [f.to_dict() for f in analyse(ruleset)], run_scenarios(ruleset, scenarios)


def _review_check(contracts, document, source, scenarios) -> tuple[list[dict], dict]:
    return review(checker.compiled(contracts, document, source), scenarios)


def _scenarios_check(contracts, document, source, scenarios) -> dict:
    return run_scenarios(checker.compiled(contracts, document, source), scenarios)


def own_id(document: dict, expected: str, source: str) -> None:
    """The document's id is the one it is stored under: filled in when left out."""
    if document.get("id") is None:
        document["id"] = expected
    elif document["id"] != expected:
        raise RulesetInvalid([Problem(source, f"the document's id {document['id']!r} is not {expected!r}, "
                                              "the id it is stored under", path="id")])


@dataclass(frozen=True)
class _Read:
    """A draft's content as it is stored: the documents, and the author's YAML texts
    (kept_text) when they came as text."""

    document: dict
    scenarios: dict | None
    document_text: str | None
    scenarios_text: str | None


def _prepare(db, ruleset_id: str, document, scenarios, number: int) -> tuple[_Read, checker.Checked]:
    """The content as it would be stored, read and compiled in a checker: first read (an
    author's YAML is parsed there too), then compiled against the contract it names."""
    source = f"{ruleset_id}@{number}"
    read = checker.run(_read_check, ruleset_id, document, scenarios, number)
    return read, checker.run(_compile_check, contract_for(db, read.document, source, drafts=True),
                             read.document, source)


def _read_check(ruleset_id: str, document, scenarios, number: int) -> _Read:
    source = f"{ruleset_id}@{number}"
    text, scenarios_text = document, scenarios
    document = parse_document(document, source)
    own_id(document, ruleset_id, source)
    document["version"] = number
    if scenarios is not None:
        scenarios = parse_document(scenarios, f"{source} scenarios")
        check_scenarios(scenarios, ruleset_id, f"{source} scenarios")
    return _Read(document, scenarios, kept_text(text, document, source),
                 kept_text(scenarios_text, scenarios, f"{source} scenarios", set_version=False)
                 if scenarios is not None else None)


def check_draft(db: sqlite_utils.Database, ruleset_id: str, number: int, document,
                scenarios=None) -> checker.Checked:
    """Check a draft's content exactly as saving it as version ``number`` would, and
    store nothing: the compiled ruleset, or RulesetInvalid with every problem."""
    return _prepare(db, ruleset_id, document, scenarios, number)[1]


def create_draft(db: sqlite_utils.Database, ruleset_id: str, document, scenarios, actor: Actor) -> RulesetVersion:
    """Store a new draft version. The document is checked and compiled against the stored
    contracts first; an invalid one raises RulesetInvalid and nothing is stored. At most
    store.MAX_OPEN_DRAFTS drafts are open per ruleset (TooManyDrafts)."""
    store.check_open_drafts(db, "ruleset", ruleset_id)  # before the work of compiling
    while True:
        number = store.next_number(db, ruleset_id)
        read, ruleset = _prepare(db, ruleset_id, document, scenarios, number)
        with store.writing(db):
            if store.next_number(db, ruleset_id) != number:
                continue  # someone else took this number meanwhile: compile again
            store.check_open_drafts(db, "ruleset", ruleset_id)
            version = store.insert_version(db, ruleset, read.document, read.scenarios, "draft", actor,
                                           document_text=read.document_text, scenarios_text=read.scenarios_text)
            record_event(db, actor, "version.create", version.target,
                         {"status": "draft", "scenarios": store.scenario_count(read.scenarios)}, None, version.hash)
            return version


KEEP = object()  # edit_draft: keep the draft's scenarios


def edit_draft(db: sqlite_utils.Database, ruleset_id: str, number: int, document, actor: Actor,
               scenarios=KEEP, based_on: str | None = None) -> RulesetVersion:
    """Replace a draft's document (and its scenarios, when given; None removes them).

    ``based_on``: the draft's ``revision`` the new content was written from; if the
    draft was saved by anyone since, EditConflict and nothing is changed, so that two
    people editing one draft cannot overwrite each other unnoticed."""
    before = store.expect(store.get_version(db, ruleset_id, number), STEPS["edit"], "edit")
    if scenarios is KEEP:
        scenarios = before.as_written[1]
    read, ruleset = _prepare(db, ruleset_id, document, scenarios, number)
    with store.step(db, before) as current:
        if based_on is not None and current.revision != based_on:
            raise EditConflict(f"{current.updated_by or current.created_by} saved version {number} of {ruleset_id} "
                               f"at {current.revision} after you opened it; your changes were not saved. "
                               "Open the draft again and make them on top of theirs.")
        contributors = tuple(dict.fromkeys(current.contributors + (actor.person,)))
        store.update_draft(db, before, ruleset, read.document, read.scenarios, contributors, actor,
                           read.document_text, read.scenarios_text)
        record_event(db, actor, "version.edit", before.target, {"scenarios": store.scenario_count(read.scenarios)},
                     before.hash, ruleset.hash)
    return store.get_version(db, ruleset_id, number)


def submit(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor,
           note: str | None = None) -> RulesetVersion:
    """Freeze a draft for review: run the static checks and the scenarios, and keep
    what they found with the version. A note for the approver goes in the audit event."""
    before = store.expect(store.get_version(db, ruleset_id, number), STEPS["submit"], "submit")
    findings, results = checker.run(_review_check, contract_for(db, before.document, before.target, drafts=True),
                                    before.document, before.target, before.scenarios)
    at = times.iso(times.now())
    with store.step(db, before):
        store.set_status(db, before, "submitted", submitted_by=actor.person, submitted_at=at,
                    findings=codec.dumps(findings), scenario_results=codec.dumps(results))
        record_event(db, actor, "version.submit", before.target,
                     {"findings": len(findings), "scenarios_passed": results["passed"],
                      "scenarios_failed": results["failed"], **({"note": note} if note else {})},
                     before.hash, before.hash)
    return store.get_version(db, ruleset_id, number)


def approve(db: sqlite_utils.Database, ruleset_id: str, number: int, actor: Actor) -> RulesetVersion:
    """Approve a submitted version. Refused (FourEyes) to anyone who wrote it, and
    (ApprovalRefused) when it no longer validates or any scenario fails: both are
    checked again now, not taken from the submission. A refusal is an audit event too
    (``version.approve_refused``): who tried, and why it was refused."""
    before = store.expect(store.get_version(db, ruleset_id, number), STEPS["approve"], "approve")
    if person_id(actor.person) in writers(before):
        raise _refused(db, before, actor, FourEyes(
            f"{actor.person} wrote or submitted version {number} of {ruleset_id}; someone else must approve it."))
    if actor.key_created_by is not None and person_id(actor.key_created_by) in writers(before):
        raise _refused(db, before, actor, FourEyes(
            f"The key {actor.key_id} was made by {actor.key_created_by}, who wrote or submitted version {number} "
            f"of {ruleset_id}; approve with a key someone else made."))
    contract = f"{before.contract_id}@{before.contract_version}"
    status = store.get_contract(db, before.contract_id, before.contract_version).status
    if status not in store.CONTRACT_SERVED:
        # An approved version is served (it can be pinned): so is everything it reads.
        raise _refused(db, before, actor, ApprovalRefused(
            f"Version {number} of {ruleset_id} reads contract {contract}, which is {status}; "
            "the contract version must be approved and published first.",
            [{"path": "contract", "message": f"contract {contract} is {status}, not published"}]))
    try:
        results = checker.run(_scenarios_check, contract_for(db, before.document, before.target), before.document,
                              before.target, before.scenarios)
    except RulesetInvalid as exc:
        raise _refused(db, before, actor, ApprovalRefused("The version no longer validates.", exc.details)) \
            from None
    except checker.CheckBudgetExceeded as exc:
        raise _refused(db, before, actor, exc) from None
    if results["failed"]:
        raise _refused(db, before, actor, ApprovalRefused(
            f"{results['failed']} of {results['passed'] + results['failed']} scenario(s) fail.",
            [{"path": f"scenarios.{r['name']}", "message": "; ".join(r["diffs"])}
             for r in results["results"] if not r["passed"]]))
    at = times.iso(times.now())
    with store.step(db, before):
        store.set_status(db, before, "approved", approved_by=actor.person, approved_at=at,
                    scenario_results=codec.dumps(results))
        store.touch(db)
        record_event(db, actor, "version.approve", before.target,
                     {"scenarios_passed": results["passed"], "contributors": list(before.contributors)},
                     before.hash, before.hash)
    return store.get_version(db, ruleset_id, number)


def writers(version: RulesetVersion) -> set[str]:
    """The people who wrote a version (created, edited or submitted it), as
    ``person_id`` compares them: none of them may approve it."""
    return {person_id(p) for p in (*version.contributors, version.submitted_by) if p}


def _refused(db, version: RulesetVersion, actor: Actor, error: Exception) -> Exception:
    """Record a refused approval (in its own transaction: the refusal changes nothing
    else) and hand back the error to raise."""
    record_event(db, actor, "version.approve_refused", version.target,
                 {"reason": error.reason, "message": error.message}, version.hash, version.hash)
    return error



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
    version, with the version number its file gives, by ``actor``, and so does each
    contract. Into one that has rulesets, a contract version not yet stored becomes a
    *submitted* version, and a ruleset whose content
    differs from every stored version becomes a new *submitted* version, which someone
    must still approve and publish; content already stored is skipped. Everything is
    checked before anything is written: any problem raises RulesetInvalid listing them
    all, and nothing is imported.
    """
    problems: list[Problem] = []
    stored = {(c.contract_id, c.version): c for c in store.list_contracts(db)}
    library = Library()
    for c in stored.values():
        if c.status in store.CONTRACT_DRAFTABLE:
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

    bootstrap = store.count_versions(db) == 0
    planned: list[tuple[Ruleset, dict, dict | None, str, tuple | None, dict]] = []
    next_numbers: dict[str, int] = {}
    for path in ruleset_files(Path(rulesets_dir)):
        try:
            text = read_text(path)
            document = parse_document(text, str(path))
            sibling = path.with_name(path.name[:-len(".yaml")] + ".scenarios.yaml")
            scenarios_text = read_text(sibling) if sibling.exists() else None
            scenarios = parse_document(scenarios_text, str(sibling)) if scenarios_text is not None else None
            ruleset_id = document.get("id")
            if scenarios is not None and isinstance(ruleset_id, str):
                check_scenarios(scenarios, ruleset_id, str(sibling))
            if not bootstrap and isinstance(ruleset_id, str):
                versions = store.list_versions(db, ruleset_id)
                if any(_without_version(v.document) == _without_version(document) for v in versions):
                    continue
                number = next_numbers.get(ruleset_id) or (max((v.version for v in versions), default=0) + 1)
                next_numbers[ruleset_id] = number + 1
                document["version"] = number
            ruleset = library.compile_ruleset(document, str(path))
        except RulesetInvalid as exc:
            problems.extend(exc.problems)
            continue
        texts = {"document_text": kept_text(text, document, str(path)),
                 "scenarios_text": kept_text(scenarios_text, scenarios, str(sibling), set_version=False)
                 if scenarios is not None else None}
        planned.append((ruleset, document, scenarios, _shown(path), None if bootstrap else review(ruleset, scenarios),
                        texts))
    if problems:
        raise RulesetInvalid(problems)

    report = ImportReport(bootstrap)
    with store.writing(db, "The database is unavailable; nothing was imported."):
        if True:
            for contract, path in new_contracts:
                if bootstrap:
                    store.insert_contract(db, contract, actor, {"file": path}, "published",
                                          published_by=actor.person, published_at=times.iso(times.now()))
                    report.lines.append(f"contract {contract.key} imported from {path} and published")
                else:
                    store.insert_contract(db, contract, actor, {"file": path}, "submitted",
                                          submitted_by=actor.person, submitted_at=times.iso(times.now()))
                    report.lines.append(f"contract {contract.key} imported from {path} as submitted: "
                                        "approve and publish it to serve it")
            for ruleset, document, scenarios, path, reviewed, texts in planned:
                if bootstrap:
                    version = store.insert_version(db, ruleset, document, scenarios, "published", actor, **texts)
                    record_event(db, actor, "version.import", version.target, {"file": path, "status": "published"},
                                 None, version.hash)
                    publications.insert_publication(db, version, "publish", times.now(), actor)
                    report.lines.append(f"ruleset {ruleset.key} imported from {path} and published")
                else:
                    findings, results = reviewed
                    at = times.iso(times.now())
                    version = store.insert_version(db, ruleset, document, scenarios, "submitted", actor,
                                              submitted_by=actor.person, submitted_at=at,
                                              findings=findings, scenario_results=results, **texts)
                    record_event(db, actor, "version.import", version.target, {"file": path, "status": "submitted"},
                                 None, version.hash)
                    report.lines.append(f"ruleset {ruleset.key} imported from {path} as submitted: "
                                        "approve and publish it to serve it")
            if new_contracts or planned:
                store.touch(db)
    return report

