"""Exceptions of the engine layer.

Each is a ``VigilError`` with a stable machine ``reason``; the engine knows nothing of
HTTP (the API chooses a status for each reason in ``app/api/errors.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import VigilError


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


class EngineError(VigilError):
    """Base of every engine error."""

    reason = "engine_error"
    message = "The engine failed."


class RulesetInvalid(EngineError):
    """The ruleset or contract has errors and was not loaded; ``details`` lists each
    problem with its file, rule id, field path and what is wrong."""

    reason = "ruleset_invalid"

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s):\n{lines}", [p.to_dict() for p in self.problems])


class SnapshotInvalid(EngineError):
    """The fact snapshot breaks its contract; ``details`` names each bad field."""

    reason = "validation_error"

    def __init__(self, errors: list[dict]):
        self.errors = list(errors)
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors), errors)


class NotFound(EngineError):
    reason = "not_found"
    message = "No such ruleset or contract is loaded."


class RulesetNotFound(NotFound):
    reason = "ruleset_not_found"
    message = "No such ruleset or version is loaded."


class ContractNotFound(NotFound):
    reason = "schema_not_found"
    message = "No such fact contract or version is loaded."


class EvaluationError(EngineError):
    """The engine could not complete the evaluation; no partial result is returned."""

    reason = "evaluation_error"
    message = "The engine could not complete the evaluation; no partial result is returned."


class LoopBoundExceeded(EvaluationError):
    reason = "loop_bound_exceeded"
    message = "The evaluation exceeded its firing bound (a rule loop) and was stopped."
