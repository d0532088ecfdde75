"""The store layer's exceptions: each a ``VigilError`` with a stable reason; the store
knows nothing of HTTP (the API chooses a status for each reason in app/api/errors.py)."""
from app.core.errors import VigilError


class StoreError(VigilError):
    reason = "store_error"
    message = "The decision log failed."


class LogUnavailable(StoreError):
    """The decision log cannot be read or written: missing, read-only, locked, corrupt."""

    reason = "decision_log_unavailable"
    message = "The decision log is unavailable; no decision was made."


class DecisionNotFound(StoreError):
    reason = "decision_not_found"
    message = "No decision has this id."


class PolicyNotFound(StoreError):
    """No such ruleset or contract version is stored."""

    reason = "version_not_found"
    message = "No such version is stored."


class WrongStatus(StoreError):
    """The version's lifecycle status does not allow this step."""

    reason = "invalid_status"
    message = "The version's status does not allow this."


class EditConflict(StoreError):
    """A draft was saved by someone else after the editor opened it."""

    reason = "edit_conflict"
    message = "The draft was changed by someone else since you opened it; nothing was saved."


class TooManyDrafts(StoreError):
    """Starting another draft would pass the most that may be open at once."""

    reason = "too_many_drafts"
    message = "Too many drafts are open; retire one no longer needed first."


class FourEyes(StoreError):
    """Whoever wrote a version may not approve it."""

    reason = "four_eyes"
    message = "A version must be approved by someone other than the people who wrote it."


class ApprovalRefused(StoreError):
    """The version fails validation or a scenario test, so it cannot be approved."""

    reason = "approval_refused"
    message = "The version fails validation or a scenario test and cannot be approved."


class InvalidRequest(StoreError):
    """A request the store cannot carry out as asked (a past effective time, nothing to
    roll back to, an unknown role, a cursor it did not give out)."""

    reason = "validation_error"
    message = "The request cannot be carried out."


class KeyNotFound(StoreError):
    reason = "key_not_found"
    message = "No API key has this id."


class KeyNameTaken(StoreError):
    """An active key already has this name: two would be told apart by their ids only."""

    reason = "key_name_taken"
    message = "An active API key already has this name."


class DecisionPurged(StoreError):
    """The decision's content was removed when its retention period ended; its place in
    the chain (id, time, ruleset, level and hashes) is kept."""

    reason = "decision_purged"
    message = "This decision's content was purged at the end of its retention period."


class HoldNotFound(StoreError):
    reason = "hold_not_found"
    message = "No legal hold has this id."


class LastAdminKey(StoreError):
    """Revoking this key would leave no active admin key, and nobody could make keys
    over the API again."""

    reason = "last_admin_key"
    message = ("This is the last active admin key: make another admin key before revoking it, "
               "so that someone can still manage keys.")
