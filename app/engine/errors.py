"""Exceptions of the engine layer.

Every exception carries a stable machine-readable ``reason`` and the HTTP ``status``
the API layer answers with; the engine itself knows nothing of HTTP.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a ruleset or contract file."""

    file: str
    message: str
    rule: str | None = None
    path: str | None = None
    line: int | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in (("file", self.file), ("rule", self.rule), ("path", self.path),
                                  ("line", self.line), ("message", self.message)) if v is not None}

    def __str__(self) -> str:
        where = [self.file + (f":{self.line}" if self.line else "")]
        if self.rule:
            where.append(f"rule {self.rule}")
        if self.path:
            where.append(self.path)
        return ": ".join(where + [self.message])


class EngineError(Exception):
    """Base of every engine error."""

    reason = "engine_error"
    status = 500

    def __init__(self, message: str = ""):
        super().__init__(message or self.__class__.__doc__ or self.reason)
        self.message = message or (self.__class__.__doc__ or self.reason).strip()


class RulesetInvalid(EngineError):
    """The ruleset or contract has errors and was not loaded."""

    reason = "ruleset_invalid"
    status = 422

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s):\n{lines}")

    def details(self) -> list[dict]:
        return [p.to_dict() for p in self.problems]


class SnapshotInvalid(EngineError):
    """The fact snapshot breaks its contract."""

    reason = "validation_error"
    status = 422

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))

    def details(self) -> list[dict]:
        return list(self.errors)


class NotFound(EngineError):
    reason = "not_found"
    status = 404


class RulesetNotFound(NotFound):
    """No such ruleset or version is loaded."""

    reason = "ruleset_not_found"


class ContractNotFound(NotFound):
    """No such fact contract or version is loaded."""

    reason = "schema_not_found"


class EvaluationError(EngineError):
    """The engine could not complete the evaluation; no partial result is returned."""

    reason = "evaluation_error"
    status = 500


class LoopBoundExceeded(EvaluationError):
    """The evaluation exceeded its firing bound (a rule loop) and was stopped."""

    reason = "loop_bound_exceeded"
