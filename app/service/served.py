"""What a worker serves (ServedPolicies): every published contract, every approved or published
ruleset version compiled, and the publications, read from the database in one read
transaction.

ServedPolicies are built whole and never changed; a worker swaps in new ones when the
policy token changes (see app/store/policies.py touch), so no decision ever sees half a
load. Which version is in effect is worked out per decision from the publications they
hold, so a scheduled version takes effect at its time without a reload.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import sqlite_utils

from app.engine import FactContract, Library, Problem, Ruleset, RulesetInvalid, RulesetNotFound
from app.store import policies, publications, times
from app.store.errors import LogUnavailable
from app.store.publications import Publication


class ServedPolicies(Library):
    """A Library whose ``ruleset(id)`` is the version in effect now (or at ``at``)
    rather than the highest number, with each version's lifecycle status."""

    def __init__(self, token: str, history: dict[str, tuple[Publication, ...]], statuses: dict[tuple[str, int], str]):
        super().__init__()
        self.token = token
        self.history = history
        self.statuses = statuses

    def in_effect(self, ruleset_id: str, at: dt.datetime | str | None = None) -> Publication | None:
        return publications.in_effect(self.history.get(ruleset_id, ()), at or times.now())

    def ruleset(self, ruleset_id: str, version: int | None = None, at: dt.datetime | str | None = None) -> Ruleset:
        """The pinned version (any approved or published one), else the version in effect."""
        if version is not None or not any(rid == ruleset_id for rid, _ in self._rulesets):
            return super().ruleset(ruleset_id, version)
        current = self.in_effect(ruleset_id, at)
        if current is None:
            raise RulesetNotFound(f"no version of ruleset {ruleset_id!r} is in effect")
        return self._rulesets[(ruleset_id, current.version)]

    def status(self, ruleset_id: str, version: int) -> str | None:
        return self.statuses.get((ruleset_id, version))


def load(db: sqlite_utils.Database, previous: Library | None = None, *, warm: bool = True) -> ServedPolicies:
    """Read and compile what is served, reusing the compiled versions of ``previous``
    whose hash has not changed. Raises RulesetInvalid if any stored version does not
    compile (nothing is served half built), LogUnavailable if the
    database cannot be read."""
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
    problems: list[Problem] = []
    for stored in contracts:
        old = old_contracts.get((stored.contract_id, stored.version))
        try:
            contract = old if old is not None and old.hash == stored.hash else FactContract(stored.document,
                                                                                             stored.target)
        except RulesetInvalid as exc:
            problems.extend(exc.problems)
            continue
        served._contracts[(contract.id, contract.version)] = contract
    for stored in versions:
        old = old_rulesets.get((stored.ruleset_id, stored.version))
        if old is not None and old.hash == stored.hash:
            ruleset = old
        else:
            contract = served._contracts.get((stored.contract_id, stored.contract_version))
            if contract is None:
                problems.append(Problem(stored.target, f"contract {stored.contract_id}@{stored.contract_version} "
                                                       "is not stored", path="contract"))
                continue
            try:
                ruleset = Ruleset(stored.document, contract, stored.target)
            except RulesetInvalid as exc:
                problems.extend(exc.problems)
                continue
            if ruleset.hash != stored.hash:
                problems.append(Problem(stored.target, f"compiles to hash {ruleset.hash}, stored as {stored.hash}"))
                continue
            if warm:
                ruleset.warm()
        served._rulesets[(ruleset.id, ruleset.version)] = ruleset
    if problems:
        raise RulesetInvalid(problems)
    return served
