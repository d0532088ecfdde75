"""What a worker serves (ServedPolicies): every published contract, every approved or published
ruleset version compiled, and the publications, read from the database in one read
transaction.

ServedPolicies are built whole and never changed; a worker swaps in new ones when the
policy token changes (see app/store/policies.py touch), so no decision ever sees half a
load. Which version is in effect is worked out per decision from the publications they
hold, so a scheduled version takes effect at its time without a reload.

Each contract and ruleset version is loaded on its own: one that cannot be loaded (it
exceeds a limit of the engine, or no longer compiles under a newer one) is kept in
``failures`` with its problems, and every other version is served. A decision that
needs a version that failed is refused with VersionUnavailable naming it; /readyz and
the start-up log name every failure.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3

import sqlite_utils

from app.core.errors import VigilError
from app.service import checker
from app.engine import FactContract, Library, Problem, Ruleset, RulesetInvalid, RulesetNotFound
from app.store import policies, publications, times
from app.store.errors import LogUnavailable
from app.store.publications import Publication

log = logging.getLogger("vigil.policies")


class VersionUnavailable(VigilError):
    """A ruleset version that is approved or published could not be loaded by this
    service; decisions that need it are refused, the other rulesets are served."""

    reason = "ruleset_version_unavailable"
    message = "This ruleset version could not be loaded; no decision can be made with it."


class ServedPolicies(Library):
    """A Library whose ``ruleset(id)`` is the version in effect now (or at ``at``)
    rather than the highest number, with each version's lifecycle status, and the
    versions that could not be loaded (``failures``: target, as ``ruleset:id@version``
    or ``contract:id@version``, to its problems)."""

    def __init__(self, token: str, history: dict[str, tuple[Publication, ...]], statuses: dict[tuple[str, int], str]):
        super().__init__()
        self.token = token
        self.history = history
        self.statuses = statuses
        self.failures: dict[str, list[dict]] = {}

    def _unavailable(self, ruleset_id: str, version: int) -> VersionUnavailable | None:
        problems = self.failures.get(f"ruleset:{ruleset_id}@{version}")
        if problems is None:
            return None
        first = problems[0]["message"] if problems else "it does not compile"
        return VersionUnavailable(
            f"Version {version} of ruleset {ruleset_id} could not be loaded: {first}. No decision is made with "
            f"it until it is fixed: roll back to an earlier version or publish another; the other rulesets "
            "are served.", problems)

    def in_effect(self, ruleset_id: str, at: dt.datetime | str | None = None) -> Publication | None:
        return publications.in_effect(self.history.get(ruleset_id, ()), at or times.now())

    def ruleset(self, ruleset_id: str, version: int | None = None, at: dt.datetime | str | None = None) -> Ruleset:
        """The pinned version (any approved or published one), else the version in effect.
        Raises VersionUnavailable if that version could not be loaded."""
        if version is not None:
            failed = self._unavailable(ruleset_id, version)
            if failed is not None:
                raise failed
        if version is not None or (ruleset_id not in self.history
                                   and not any(rid == ruleset_id for rid, _ in self._rulesets)):
            return super().ruleset(ruleset_id, version)
        current = self.in_effect(ruleset_id, at)
        if current is None:
            raise RulesetNotFound(f"no version of ruleset {ruleset_id!r} is in effect")
        failed = self._unavailable(ruleset_id, current.version)
        if failed is not None:
            raise failed
        try:
            return self._rulesets[(ruleset_id, current.version)]
        except KeyError:
            raise RulesetNotFound(f"ruleset {ruleset_id!r} version {current.version} is in effect but not "
                                  "servable") from None

    def status(self, ruleset_id: str, version: int) -> str | None:
        return self.statuses.get((ruleset_id, version))


def load(db: sqlite_utils.Database, previous: Library | None = None, *, warm: bool = True,
         check=None) -> ServedPolicies:
    """Read and compile what is served, reusing the compiled versions of ``previous``
    whose hash has not changed. Each version is loaded on its own: one that does not
    compile is named in ``failures`` with its problems and the others are served.
    ``check``, when given, is called with each stored version not loaded before, ahead
    of compiling it here: the service compiles it in a ruleset checker first
    (checker.py), so that a version that would take more than a check's budget (hang
    the rules engine, say) fails there instead of stopping this process. Raises
    LogUnavailable if the database cannot be read."""
    try:
        db.execute("BEGIN")  # one read transaction: the token and the rows agree
        try:
            token = policies.token(db)
            contracts = policies.list_contracts(db, statuses=policies.CONTRACT_SERVED)  # never a draft
            versions = policies.list_versions(db, statuses=policies.SERVABLE)
            history = publications.list_publications(db)
        finally:
            db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; the rulesets could not be loaded.") from exc
    by_ruleset: dict[str, list[Publication]] = {}
    for publication in history:
        by_ruleset.setdefault(publication.ruleset_id, []).append(publication)
    served = ServedPolicies(token, {k: tuple(v) for k, v in by_ruleset.items()},
                              {(v.ruleset_id, v.version): v.status for v in versions})
    old_contracts = {(c.id, c.version): c for c in previous.contracts()} if previous is not None else {}
    old_rulesets = {(r.id, r.version): r for r in previous.rulesets()} if previous is not None else {}
    for stored in contracts:
        old = old_contracts.get((stored.contract_id, stored.version))
        try:
            contract = old if old is not None and old.hash == stored.hash else FactContract(stored.document,
                                                                                             stored.target)
        except RulesetInvalid as exc:
            served.failures[stored.target] = exc.details
            continue
        served._contracts[(contract.id, contract.version)] = contract
    for stored in versions:
        old = old_rulesets.get((stored.ruleset_id, stored.version))
        if old is not None and old.hash == stored.hash:
            ruleset = old
        else:
            try:
                if check is not None and (stored.contract_id, stored.contract_version) in served._contracts:
                    _checked(check, stored)
                ruleset = _compile(served, stored, warm)
            except RulesetInvalid as exc:
                served.failures[stored.target] = exc.details
                continue
        served._rulesets[(ruleset.id, ruleset.version)] = ruleset
    return served


def in_a_checker(db: sqlite_utils.Database):
    """The ``check`` for ``load`` that compiles a stored version in a ruleset checker
    first, as it would be served."""
    from app.service import policies as service

    return lambda stored: service.check_version(db, stored, drafts=False)


def _checked(check, stored) -> None:
    """``check(stored)``, its refusal as RulesetInvalid; when every checker is busy the
    version is compiled here unchecked rather than left out."""
    try:
        check(stored)
    except checker.CheckersBusy:
        log.warning("%s compiled without a checker: every checker was busy", stored.target)
    except (checker.CheckBudgetExceeded, checker.CheckFailed) as exc:
        over = exc.details[0]["message"] if exc.details else None
        raise RulesetInvalid([Problem(stored.target, f"compiling it in a ruleset checker went {over}" if over
                                      else "compiling it stopped its ruleset checker")]) from None


def _compile(served: ServedPolicies, stored, warm: bool) -> Ruleset:
    contract = served._contracts.get((stored.contract_id, stored.contract_version))
    if contract is None:
        why = "could not be loaded" if f"contract:{stored.contract_id}@{stored.contract_version}" in served.failures \
            else "is not stored"
        raise RulesetInvalid([Problem(stored.target, f"its contract {stored.contract_id}@{stored.contract_version} "
                                                     f"{why}", path="contract")])
    ruleset = Ruleset(stored.document, contract, stored.target)
    if ruleset.hash != stored.hash:
        raise RulesetInvalid([Problem(stored.target, f"compiles to hash {ruleset.hash}, stored as {stored.hash}")])
    if warm:
        try:
            ruleset.warm()
        except Exception as exc:  # noqa: BLE001 - the engine refused it: this version is not served
            raise RulesetInvalid([Problem(stored.target, f"the rules engine could not load it "
                                                         f"({type(exc).__name__})")]) from exc
    return ruleset


def failure_lines(served: ServedPolicies) -> list[str]:
    """One sentence per version that could not be loaded, naming it and its first problem."""
    return [f"{target} is not served: it could not be loaded: "
            f"{problems[0]['message'] if problems else 'it does not compile'}"
            + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else "")
            for target, problems in sorted(served.failures.items())]


def log_failures(served: ServedPolicies, log) -> None:
    """Name each version that could not be loaded, in the log, once per load."""
    for target, problems in sorted(served.failures.items()):
        log.error("%s could not be loaded and is not served; the other versions are", target,
                  extra={"version": target, "problems": problems})
