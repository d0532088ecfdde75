"""Shared by the portfolio tests: the shipped library, generated snapshot files, CSV."""
from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

from app.config import ROOT
from app.engine import load_library
from app.portfolio import synthetic


@functools.lru_cache(maxsize=1)
def library():
    return load_library(ROOT / "rulesets", ROOT / "schemas")


def personal_loan():
    return library().ruleset("personal_loan")


def write_jsonl(path: Path, snapshots) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for snap in snapshots:
            fh.write((snap if isinstance(snap, str) else json.dumps(snap)) + "\n")
    return path


def generated(path: Path, n: int, seed: int = 11) -> Path:
    return synthetic.write_jsonl(path, n, seed)


def flatten(value, prefix: str = "") -> dict:
    """A snapshot as dotted CSV columns (list items by index)."""
    out = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}{i}."))
    elif isinstance(value, list):
        out[prefix[:-1]] = json.dumps(value)
    elif isinstance(value, bool):
        out[prefix[:-1]] = "true" if value else "false"
    else:
        out[prefix[:-1]] = str(value)
    return out


def write_csv(path: Path, snapshots: list[dict]) -> Path:
    rows = [flatten(s) for s in snapshots]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    # an empty list is written as JSON ([]) unless other rows give that list by item columns;
    # then its empty item cells say the same
    for name in list(columns):
        if any(other.startswith(name + ".") for other in columns):
            del columns[name]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(columns))
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


def result_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
