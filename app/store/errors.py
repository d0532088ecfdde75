"""The store layer's exceptions. Each carries the HTTP status and stable reason the API
answers with; the store itself knows nothing of HTTP beyond these two attributes."""


class StoreError(Exception):
    status = 500
    reason = "store_error"
    message = "The decision log failed."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message


class LogUnavailable(StoreError):
    """The decision log cannot be read or written: missing, read-only, locked, corrupt."""

    status = 503
    reason = "decision_log_unavailable"
    message = "The decision log is unavailable; no decision was made."


class DecisionNotFound(StoreError):
    status = 404
    reason = "decision_not_found"
    message = "No decision has this id."
