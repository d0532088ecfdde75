"""Masking the fields a fact contract marks ``personal: true`` before a decision is logged.

A masked value is a keyed hash (HMAC-SHA256 with a secret the service is configured
with): the same value always masks to the same text, so an auditor holding the original
snapshot can show it is the one the decision was made on, but the log alone does not
give the value back. The decision itself is made on the real values; only what is
logged (and answered, which is the same text) shows the masks: the snapshot's personal
fields, the values the trail shows for them, and the reasons and failed conditions that
would quote them.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import re
from decimal import Decimal
from typing import Any

from app.core import codec

from .contract import FactContract, FieldSpec

SCHEME = "hmac-sha256"
PREFIX = "hmac:"
_INDEX = re.compile(r"\[\d+\]")


def _canonical(value: Any) -> bytes:
    if isinstance(value, Decimal):
        return b"number:" + format(value, "f").encode()
    return b"json:" + codec.canonical(value).encode()


def key_id(key: str | bytes) -> str:
    """Names a masking key without giving it away (logged in each masked decision's label,
    compared with what a Dask worker holds)."""
    key = key.encode() if isinstance(key, str) else bytes(key)
    return hashlib.sha256(b"vigil mask key id|" + key).hexdigest()[:12]


class Masker:
    """Masks values with one key. ``label`` names the scheme and the key (not the key
    itself), and is logged with each masked decision. A masker is never pickled: the key
    stays in the processes configured with it (a Dask worker has its own, see
    app/portfolio/cluster.py)."""

    def __init__(self, key: str | bytes, older=()):
        key = key.encode() if isinstance(key, str) else bytes(key)
        if len(key) < 16:
            raise ValueError("the masking key must be at least 16 bytes")
        self._key = key
        self.key_id = key_id(key)
        self.label = f"{SCHEME}:{self.key_id}"
        self._redactions: dict[str, Redaction] = {}
        # Keys retired from masking, kept to check what they masked (a rotation).
        self._older = tuple(Masker(k) for k in older)

    def __reduce__(self):
        raise TypeError("a Masker holds the masking key and is never pickled: send its key_id, and let the "
                        "other process build its own from its configuration")

    def with_label(self, label: str | None) -> "Masker | None":
        """The masker, this one or an older key's, that masked what carries ``label``."""
        for masker in (self, *self._older):
            if masker.label == label:
                return masker
        return None

    def token(self, value: Any) -> str:
        # A number masks the same whatever its trailing zeros or its type (8000, 8000.0,
        # Decimal("8000.00")); text exactly as it is ("0123" is not "123").
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = Decimal(str(value))
        if isinstance(value, Decimal):
            value = value.normalize() if value != 0 else Decimal(0)
        return PREFIX + hmac.new(self._key, _canonical(value), hashlib.sha256).hexdigest()[:32]

    def digest(self, text: str) -> str:
        """A keyed hash of any text (a request's canonical form), for the log."""
        return f"{SCHEME}:" + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def redaction(self, contract: FactContract) -> "Redaction":
        found = self._redactions.get(contract.hash)
        if found is None:
            found = self._redactions[contract.hash] = Redaction(self, contract)
        return found


def personal_paths(contract: FactContract) -> frozenset[str]:
    """Every personal field, list elements written ``loans[].account_id``."""
    out: set[str] = set()

    def walk(fields: dict[str, FieldSpec], prefix: str) -> None:
        for name, spec in fields.items():
            path = f"{prefix}.{name}" if prefix else name
            if spec.personal:
                out.add(path)
            if spec.kind == "object":
                walk(spec.fields, path)
            elif spec.kind == "list" and spec.items is not None:
                if spec.items.kind == "object":
                    walk(spec.items.fields, path + "[]")
                elif spec.items.personal:
                    out.add(path + "[]")

    walk(contract.fields, "")
    return frozenset(out)


class Redaction:
    """Masking for the snapshots of one contract."""

    def __init__(self, masker: Masker, contract: FactContract):
        self.masker = masker
        self.contract = contract
        self.paths = personal_paths(contract)
        # How a condition writes them: a field by its path, a list element's field after
        # the name the quantifier binds (``any l in loans: l.account_id ...``).
        patterns = []
        for path in sorted(self.paths):
            if "[]" in path:
                last = path.split("[]")[-1].lstrip(".")
                patterns.append(r"\." + re.escape(last) + r"(?!\w)" if last else
                                r"(?<![\w.])" + re.escape(path.split("[]")[0]) + r"(?!\w)")
            else:
                patterns.append(r"(?<![\w.])" + re.escape(path) + r"(?!\w)")
        self._mention = re.compile("|".join(patterns)) if patterns else None

    @property
    def label(self) -> str:
        return self.masker.label

    def personal(self, path: str) -> bool:
        """Is this value path (``loans[2].account_id`` too) a personal field?"""
        return _INDEX.sub("[]", path) in self.paths

    def mentions(self, text: str | None) -> bool:
        """Does an expression read a personal field (by its path, or its last part after a
        bound name in a list quantifier)?"""
        if not text or self._mention is None:
            return False
        return self._mention.search(text) is not None

    def shown(self, value: Any) -> Any:
        return None if value is None else self.masker.token(value)

    def snapshot(self, snapshot: Any) -> Any:
        """A copy with every personal value replaced by its mask. A number field's value
        masks as the number (as the trail shows it), whether it came as text or not."""
        out = copy.deepcopy(snapshot)
        for path in self.paths:
            spec = _spec(self.contract, path)
            numeric = spec is not None and spec.kind in ("integer", "decimal")
            _mask_at(out, path.replace("[]", ".[]").split("."), lambda v: self.masker.token(_number(v) if numeric
                                                                                            else v))
        return out

    def unmask_shape(self, snapshot: Any) -> Any:
        """A copy of a masked snapshot with each mask replaced by a value of the field's
        type, so that it can be evaluated again by rules that do not read personal fields."""
        out = copy.deepcopy(snapshot)
        for path in self.paths:
            spec = _spec(self.contract, path)
            if spec is not None:
                _fill_at(out, path.replace("[]", ".[]").split("."), _placeholder(spec))
        return out


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def _replace_at(node: Any, parts: list[str], replace) -> None:
    """Replace each value at ``parts`` (``[]`` stands for every list item) by
    ``replace(value)``; a value for which it returns the value itself stays."""
    if not parts or node is None:
        return
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if isinstance(node, list):
            for i, item in enumerate(node):
                if rest:
                    _replace_at(item, rest, replace)
                else:
                    node[i] = replace(item)
        return
    if not isinstance(node, dict) or head not in node:
        return
    if rest:
        _replace_at(node[head], rest, replace)
    else:
        node[head] = replace(node[head])


def _mask_at(node: Any, parts: list[str], token) -> None:
    _replace_at(node, parts, lambda v: v if v is None or isinstance(v, (dict, list)) else token(v))


def _fill_at(node: Any, parts: list[str], value: Any) -> None:
    _replace_at(node, parts, lambda v: value if isinstance(v, str) and v.startswith(PREFIX) else v)


def _spec(contract: FactContract, path: str) -> FieldSpec | None:
    fields, spec = contract.fields, None
    for part in path.replace("[]", ".[]").split("."):
        if part == "[]":
            spec = spec.items if spec is not None else None
        else:
            spec = fields.get(part) if fields is not None else None
        if spec is None:
            return None
        fields = spec.fields if spec.kind == "object" else (spec.items.fields if spec.kind == "list" and spec.items
                                                            and spec.items.kind == "object" else None)
    return spec


def _placeholder(spec: FieldSpec) -> Any:
    if spec.kind == "string":
        return "masked"[: spec.max_length or 6] or "m"
    if spec.kind in ("integer", "decimal"):
        low = spec.min if spec.min is not None else 0
        high = spec.max if spec.max is not None else 0
        value = min(max(Decimal(0), Decimal(low)), Decimal(high))
        return int(value) if spec.kind == "integer" else format(value, "f")
    if spec.kind == "enum":
        return spec.values[0]
    if spec.kind == "boolean":
        return False
    if spec.kind == "date":
        return "2000-01-01"
    return None
