"""A customer snapshot as a form generated from the fact contract, and back.

The form only carries values: every check of them is the contract's own, run by the
decision path when the snapshot is tried. Lists are entered in the JSON view.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from app.engine.scenarios import build_snapshot, set_path


class FormProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def form_fields(contract) -> list[dict]:
    """The contract's fields in order: objects as headings, lists left to the JSON view."""
    out = []
    for path, spec in contract.paths():
        inside_list = False
        out.append({"path": path, "name": "f:" + path, "kind": spec.kind, "required": spec.required,
                    "description": spec.description, "values": list(spec.values), "personal": spec.personal,
                    "depth": path.count("."), "heading": spec.kind == "object", "skip": spec.kind == "list" or inside_list,
                    "min": spec.min, "max": spec.max})
    return out


def _leaves(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


def form_values(contract, snapshot: dict | None) -> dict[str, str]:
    if not snapshot:
        return {}
    values = {}
    for path, value in _leaves(snapshot):
        if isinstance(value, list):
            continue
        values["f:" + path] = "true" if value is True else "false" if value is False else str(value)
    return values


def snapshot_from_form(contract, values: dict[str, str]) -> dict:
    snapshot: dict = {}
    for path, spec in contract.paths():
        raw = (values.get("f:" + path) or "").strip()
        if not raw or spec.kind in ("object", "list"):
            continue
        name = "f:" + path
        if spec.kind == "integer":
            try:
                value = int(raw)
            except ValueError:
                raise FormProblem(name, "Enter a whole number.") from None
        elif spec.kind == "decimal":
            try:
                value = Decimal(raw)
            except InvalidOperation:
                raise FormProblem(name, "Enter a number, such as 0.85.") from None
        elif spec.kind == "boolean":
            if raw not in ("true", "false"):
                raise FormProblem(name, "Choose yes or no.")
            value = raw == "true"
        else:
            value = raw
        set_path(snapshot, path, value)
    return snapshot


def example_snapshot(scenarios: dict | None) -> dict | None:
    """The first scenario's snapshot, to start a trial from."""
    for scenario in (scenarios or {}).get("scenarios") or []:
        try:
            return build_snapshot(scenario, (scenarios or {}).get("bases") or {})
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return None
