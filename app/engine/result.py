"""The frozen result of one evaluation, and its JSON form."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .util import json_safe

if TYPE_CHECKING:
    from .contract import DataFinding


@dataclass(frozen=True)
class Firing:
    """One rule that fired, with the values its condition read."""

    order: int
    rule: str
    title: str
    clause: str
    priority: int
    condition: str
    values: Mapping[str, Any]
    signals: tuple[str, ...]
    reads_signals: tuple[str, ...]
    used_by: tuple[str, ...]
    actions: tuple[tuple[str, Mapping], ...]
    level: str | None
    review: str | None

    def to_dict(self) -> dict:
        return {
            "order": self.order, "rule": self.rule, "title": self.title, "clause": self.clause,
            "priority": self.priority, "condition": self.condition, "values": json_safe(dict(self.values)),
            "signals": list(self.signals), "reads_signals": list(self.reads_signals), "used_by": list(self.used_by),
            "actions": [{"action": a, "params": json_safe(dict(p))} for a, p in self.actions],
            "level": self.level, "review": self.review,
        }


@dataclass(frozen=True)
class FinalAction:
    action: str
    title: str
    params: Mapping[str, Any]
    adverse: bool
    rules: tuple[str, ...]
    reason: str | None

    def to_dict(self) -> dict:
        out = {"action": self.action, "title": self.title, "params": json_safe(dict(self.params)),
               "adverse": self.adverse, "rules": list(self.rules)}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class Overridden:
    action: str
    params: Mapping[str, Any]
    rules: tuple[str, ...]
    by: str
    by_rules: tuple[str, ...]
    why: str

    def to_dict(self) -> dict:
        return {"action": self.action, "params": json_safe(dict(self.params)), "rules": list(self.rules),
                "by": self.by, "by_rules": list(self.by_rules), "why": self.why}


@dataclass(frozen=True)
class NotFired:
    rule: str
    title: str
    clause: str
    condition: str
    failed: Mapping[str, Any]

    def to_dict(self) -> dict:
        return {"rule": self.rule, "title": self.title, "clause": self.clause, "condition": self.condition,
                "failed": json_safe(dict(self.failed))}


@dataclass(frozen=True)
class Evaluation:
    """Everything decided about one snapshot. Immutable."""

    ruleset_id: str
    ruleset_version: int
    ruleset_hash: str
    contract: str
    level: str
    level_rules: tuple[str, ...]
    review_frequency: str
    review_rules: tuple[str, ...]
    actions: tuple[FinalAction, ...]
    overridden: tuple[Overridden, ...]
    signals: tuple[str, ...]
    firings: tuple[Firing, ...]
    not_fired: tuple[NotFired, ...] | None
    # Valid values that failed their field's plausibility check: the rules read them as missing.
    data_quality: tuple["DataFinding", ...] = ()

    @property
    def fired(self) -> tuple[str, ...]:
        return tuple(f.rule for f in self.firings)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(a.action for a in self.actions)

    def to_dict(self) -> dict:
        out = {
            "ruleset": {"id": self.ruleset_id, "version": self.ruleset_version, "hash": self.ruleset_hash},
            "contract": self.contract,
            "level": self.level, "level_rules": list(self.level_rules),
            "review_frequency": self.review_frequency, "review_rules": list(self.review_rules),
            "actions": [a.to_dict() for a in self.actions],
            "overridden": [o.to_dict() for o in self.overridden],
            "signals": list(self.signals),
            "fired": list(self.fired),
            "trail": [f.to_dict() for f in self.firings],
            "data_quality": [f.to_dict() for f in self.data_quality],
        }
        if self.not_fired is not None:
            out["not_fired"] = [n.to_dict() for n in self.not_fired]
        return out
