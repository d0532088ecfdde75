"""The one error base.

Every error Vigil raises on purpose is a ``VigilError``: a stable machine ``reason``
(callers and tests rely on it), a ``message`` for a person that names what to fix, and
``details``, a list of ``{"path": ..., "message": ...}`` items (or other small mappings)
for errors that concern several fields. An error knows nothing of how it is delivered:
the HTTP status for each reason is chosen in ``app/api/errors.py`` only; the command
line prints the message and the details.
"""
from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

    reason = "vigil_error"
    message = "The request could not be carried out."

    def __init__(self, message: str | None = None, details: list[dict] | None = None):
        self.message = message or type(self).message
        self.details = [dict(item) for item in details or ()]
        super().__init__(self.message)

    def to_dict(self) -> dict:
        return {"reason": self.reason, "message": self.message, "details": list(self.details)}

    def __reduce__(self):
        # Pickled as it is, whatever its constructor takes: an error raised in a checker
        # process (app/service/checker.py) is raised again in the process that asked.
        return _rebuild, (type(self), dict(self.__dict__))


def _rebuild(cls: type[VigilError], state: dict) -> VigilError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message"))
    error.__dict__.update(state)
    return error
