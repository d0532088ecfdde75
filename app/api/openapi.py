"""The OpenAPI document as served: what flask-smorest generates from the schemas, plus
each served ruleset's snapshot contract as a schema and a decision request per ruleset.

The contracts are data in the database, published while the service runs, so they are
added when the document is asked for (and kept until what is served changes): a client
generated from ``/openapi.json`` gets a typed model of each ruleset's snapshot
(``RetailCardSnapshot``: every field with its type, format, bounds and description)
and ``POST /v1/decisions`` takes one of the per-ruleset requests, told apart by
``ruleset_id``.
"""
from __future__ import annotations

import copy

from app.engine.contract import FactContract, FieldSpec


def model_name(ruleset_id: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in ruleset_id.split("_")) + suffix


def _decimal_pattern(places: int) -> str:
    return r"^-?\d+$" if places == 0 else rf"^-?\d+(\.\d{{1,{places}}})?$"


def field_schema(spec: FieldSpec) -> dict:
    """One contract field as a JSON Schema. Decimals are strings holding the number (a
    JSON number is accepted too): money never passes through a float."""
    notes = [spec.description] if spec.description else []
    out: dict = {}
    if spec.kind == "integer":
        out = {"type": "integer", "minimum": int(spec.min), "maximum": int(spec.max)}
    elif spec.kind == "decimal":
        out = {"type": "string", "format": "decimal", "pattern": _decimal_pattern(spec.places),
               "x-minimum": format(spec.min, "f"), "x-maximum": format(spec.max, "f")}
        notes.append(f"A decimal with at most {spec.places} places, from {format(spec.min, 'f')} to "
                     f"{format(spec.max, 'f')} (as text, or as a JSON number).")
    elif spec.kind == "boolean":
        out = {"type": "boolean"}
    elif spec.kind == "string":
        out = {"type": "string"}
        if spec.max_length is not None:
            out["maxLength"] = spec.max_length
    elif spec.kind == "enum":
        out = {"type": "string", "enum": list(spec.values)}
    elif spec.kind == "date":
        out = {"type": "string", "format": "date"}
    elif spec.kind == "object":
        out = object_schema(spec.fields)
    elif spec.kind == "list":
        out = {"type": "array", "items": field_schema(spec.items), "maxItems": spec.max_items}
    if spec.plausible is not None:
        out["x-plausible"] = spec.plausible.describe(spec.kind)
        notes.append(f"Plausible {spec.plausible.expectation()}: a value outside is read as missing and named in "
                     "the decision's data_quality.")
    if spec.personal:
        out["x-personal"] = True
        notes.append("Personal data.")
    if notes:
        out["description"] = " ".join(notes)
    return out


def object_schema(fields: dict[str, FieldSpec]) -> dict:
    out = {"type": "object", "properties": {name: field_schema(spec) for name, spec in fields.items()},
           "additionalProperties": False}
    required = [name for name, spec in fields.items() if spec.required]
    if required:
        out["required"] = required
    return out


def snapshot_schema(ruleset_id: str, contract: FactContract) -> dict:
    out = object_schema(contract.fields)
    out["description"] = (f"A snapshot for ruleset {ruleset_id}: fact contract {contract.key} "
                          f"({contract.title}). {contract.description}".strip())
    return out


def request_schema(ruleset_id: str, snapshot_ref: str, generic: dict) -> dict:
    """The decision request for one ruleset: the generic one with ``ruleset_id`` fixed
    and the snapshot typed."""
    out = copy.deepcopy(generic)
    props = out.setdefault("properties", {})
    props["ruleset_id"] = {"type": "string", "enum": [ruleset_id]}
    props["snapshot"] = {"$ref": snapshot_ref}
    out["description"] = f"A decision on a {ruleset_id} snapshot."
    return out


def with_rulesets(spec: dict, library) -> dict:
    """A copy of ``spec`` with each ruleset in effect's snapshot and decision request."""
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    generic = schemas.get("DecisionRequest")
    if library is None or generic is None:
        return spec
    refs, mapping = [], {}
    for ruleset_id in sorted({r.id for r in library.rulesets()}):
        try:
            ruleset = library.ruleset(ruleset_id)
        except Exception:  # noqa: BLE001 - nothing in effect (only approved versions): not described
            continue
        snapshot_name = model_name(ruleset_id, "Snapshot")
        request_name = model_name(ruleset_id, "DecisionRequest")
        schemas[snapshot_name] = snapshot_schema(ruleset_id, ruleset.contract)
        schemas[request_name] = request_schema(ruleset_id, f"#/components/schemas/{snapshot_name}", generic)
        ref = f"#/components/schemas/{request_name}"
        refs.append({"$ref": ref})
        mapping[ruleset_id] = ref
    if not refs:
        return spec
    one_of = {"oneOf": refs, "discriminator": {"propertyName": "ruleset_id", "mapping": mapping}}
    body = spec.get("paths", {}).get("/v1/decisions", {}).get("post", {}).get("requestBody", {})
    for media in body.get("content", {}).values():
        media["schema"] = copy.deepcopy(one_of)
    batch = schemas.get("BatchRequest", {}).get("properties", {}).get("items")
    if batch is not None:
        batch["items"] = copy.deepcopy(one_of)
    return spec
