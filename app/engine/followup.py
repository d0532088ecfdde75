"""Follow-up declarations: what a person must do after an action is decided.

An action in a ruleset's catalogue may declare a follow-up::

    contact_customer:
      title: Contact the customer
      follow_up:
        role: relationship_manager          # who does it
        within_days: {red: 2, orange: 5, yellow: 15}   # or one number for every level
        evidence: [note, contact_date, outcome]       # what closes it
        outcomes: [reached, promised_to_pay, no_answer, refused]

A decision that carries such an action opens (or updates) a task for the customer; the
service layer does that (app/service/followup.py). The engine only checks the declaration
and, for ``overdue_follow_up(action)``, reads the follow-up facts a decision is given
under ``FOLLOW_UP`` in what the rules see.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import Problem

# Where the follow-up facts a decision used are put in its input (and so logged with it):
# {"overdue": [action, ...]}. No contract field can take the name.
FOLLOW_UP = "$follow_up"
FOLLOW_UP_KEYS = {"role", "within_days", "evidence", "outcomes", "description"}
EVIDENCE = ("note", "contact_date", "outcome")
MAX_DAYS = 366
MAX_OUTCOMES = 20
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class FollowUpSpec:
    """A checked follow-up declaration of one action."""

    role: str
    # (level, days) for each level a due time is declared for; ``default`` for the rest.
    days: tuple[tuple[str, int], ...]
    default_days: int | None
    evidence: tuple[str, ...]
    outcomes: tuple[str, ...] = ()
    description: str = ""

    def days_for(self, level: str | None) -> int:
        """Days to do it in, for a customer decided at ``level``."""
        for name, days in self.days:
            if name == level:
                return days
        if self.default_days is None:  # parse() makes this unreachable for declared levels
            return min(d for _, d in self.days)
        return self.default_days

    def describe(self) -> dict:
        within = dict(self.days)
        if self.default_days is not None:
            within["default"] = self.default_days
        return {"role": self.role, "within_days": within, "evidence": list(self.evidence),
                "outcomes": list(self.outcomes)}


def parse_follow_up(body, where: str, levels: tuple[str, ...], source: str,
                    problems: list[Problem]) -> FollowUpSpec | None:
    """Check one ``follow_up`` declaration (at ``where``); append each problem found."""
    count = len(problems)

    def problem(message: str, path: str = where) -> None:
        problems.append(Problem(source, message, path=path))

    if not isinstance(body, dict):
        problem("follow_up is a mapping (role, within_days, evidence, outcomes)")
        return None
    for key in body:
        if key not in FOLLOW_UP_KEYS:
            problem(f"unknown key {key!r}; a follow_up has {', '.join(sorted(FOLLOW_UP_KEYS))}", f"{where}.{key}")
    role = body.get("role")
    if not isinstance(role, str) or not _NAME_RE.fullmatch(role):
        problem("role names who does it, in lower_snake_case (relationship_manager, collections, credit_officer)",
                f"{where}.role")
    days: list[tuple[str, int]] = []
    default_days = None
    within = body.get("within_days")
    if _is_days(within):
        default_days = within
    elif isinstance(within, dict) and within:
        for level, value in within.items():
            if level != "default" and level not in levels:
                problem(f"{level!r} is not a level of this ruleset (levels: {', '.join(levels)}, or default)",
                        f"{where}.within_days.{level}")
            elif not _is_days(value):
                problem(f"days must be a whole number from 1 to {MAX_DAYS}, not {value!r}",
                        f"{where}.within_days.{level}")
            elif level == "default":
                default_days = value
            else:
                days.append((level, value))
        if default_days is None and len(problems) == count:
            missing = [lv for lv in levels if lv not in dict(days)]
            if missing:
                problem(f"no due time for level(s) {', '.join(missing)}: give them days, or a default",
                        f"{where}.within_days")
    else:
        problem(f"within_days is a whole number of days (1 to {MAX_DAYS}), or days per level "
                "({red: 2, yellow: 15, default: 30})", f"{where}.within_days")
    evidence = body.get("evidence")
    if (not isinstance(evidence, list) or not evidence or any(e not in EVIDENCE for e in evidence)
            or len(set(evidence)) != len(evidence)):
        problem(f"evidence lists what closes the task, each once, from {', '.join(EVIDENCE)}", f"{where}.evidence")
        evidence = []
    outcomes = body.get("outcomes")
    if "outcome" in evidence:
        if (not isinstance(outcomes, list) or not outcomes or len(outcomes) > MAX_OUTCOMES
                or any(not isinstance(o, str) or not _NAME_RE.fullmatch(o) for o in outcomes)
                or len(set(outcomes)) != len(outcomes)):
            problem(f"outcomes lists the outcomes to choose from (1 to {MAX_OUTCOMES} lower_snake_case names, "
                    "each once)", f"{where}.outcomes")
            outcomes = []
    elif outcomes is not None:
        problem("outcomes is only for evidence that includes outcome", f"{where}.outcomes")
    description = body.get("description") or ""
    if not isinstance(description, str):
        problem("description is text", f"{where}.description")
    if len(problems) != count:
        return None
    return FollowUpSpec(role, tuple(days), default_days, tuple(evidence), tuple(outcomes or ()), description)


def split_facts(snapshot):
    """A snapshot without the follow-up facts stated in it, and those facts (None when
    there are none): a trial or a scenario states them, a logged decision carries the
    ones it was given. Only ``overdue`` (a list of action names) is kept."""
    if not isinstance(snapshot, dict) or FOLLOW_UP not in snapshot:
        return snapshot, None
    rest = dict(snapshot)
    raw = rest.pop(FOLLOW_UP)
    overdue = raw.get("overdue") if isinstance(raw, dict) else None
    return rest, {"overdue": sorted({str(a) for a in overdue} if isinstance(overdue, list) else set())}


def _is_days(value) -> bool:
    return type(value) is int and 1 <= value <= MAX_DAYS
