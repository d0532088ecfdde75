"""Who may do what in the console: exactly who may do it over the API.

Each console action is the API endpoint that does the same thing; its roles are the
roles that endpoint declares (app/api/auth.py), read at run time, so the console has
no table of roles of its own. Pages hide what a key may not do, and every view checks
again before acting.
"""

from __future__ import annotations

from flask import abort

from app.api import auth
from app.store.keys import ROLES

# console action -> the API endpoint whose roles it takes
ENDPOINTS = {
    "read": "governance.list_versions",
    "draft": "governance.create_draft",
    "edit": "governance.edit_draft",
    "submit": "governance.submit_version",
    "approve": "governance.approve_version",
    "reject": "governance.reject_version",
    "publish": "governance.publish_version",
    "retire": "governance.retire_version",
    "rollback": "governance.rollback",
    "contract_draft": "governance.create_contract",
    "contract_submit": "governance.submit_contract",
    "contract_approve": "governance.approve_contract",
    "contract_reject": "governance.reject_contract",
    "contract_publish": "governance.publish_contract",
    "contract_retire": "governance.retire_contract",
    "simulate": "simulations.create_simulation",
    # Running the scenarios and trying a snapshot evaluate a stored version without
    # logging anything, as a simulation does: the same roles.
    "scenarios": "simulations.create_simulation",
    "try": "simulations.create_simulation",
    # Compliance: reading the decision log and the audit trail, and legal holds.
    "audit": "decision-log.search_decisions",
    "holds": "legal-holds.place_hold",        # place and release, see what a purge would remove
    "holds_read": "legal-holds.list_holds",
    # Follow-up: tasks (each person sees their own; approve, audit and admin see every
    # task), doing them, approving a waiver; the evaluation report.
    "tasks": "tasks.list_tasks",
    "task_work": "tasks.complete_task",
    "task_claim": "tasks.claim_task",
    "approve_waiver": "tasks.approve_waiver",
    "evaluate": "follow-up-report.follow_up_report",
}

# The console is for people: a key that may only ask for decisions (a loan system's)
# cannot sign in.
PEOPLE_ROLES = frozenset(ROLES) - {"decide"}


def may(action: str, roles) -> bool:
    return auth.allows(auth.roles_of(ENDPOINTS[action]), roles)


def may_sign_in(roles) -> bool:
    return bool(PEOPLE_ROLES & set(roles))


def require(action: str, roles) -> None:
    """Refuse (403) an action the key may not take, whatever the page showed."""
    if not may(action, roles):
        abort(403)
