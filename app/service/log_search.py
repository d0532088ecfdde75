"""Searching and exporting the decision log: the store's search (app/store/search.py)
with the words each decision is found by, told by the engine's narrative."""
from __future__ import annotations

import sqlite_utils

from app.engine.narrative import search_text
from app.store import search as _store
from app.store.search import EXPORT_FORMATS, Coverage, Export, Filters, Page  # noqa: F401  (for callers)


def search(db: sqlite_utils.Database, filters: Filters, cursor: str | None = None, limit: int = 50,
           index_seconds: float | None = None) -> Page:
    return _store.search(db, filters, cursor, limit, text_of=search_text, index_seconds=index_seconds)


def export(db: sqlite_utils.Database, filters: Filters, fmt: str, index_seconds: float | None = None) -> Export:
    return _store.export(db, filters, fmt, text_of=search_text, index_seconds=index_seconds)


def catch_up(db: sqlite_utils.Database, seconds: float | None = None) -> int:
    return _store.catch_up(db, search_text, seconds=seconds)


def coverage(db: sqlite_utils.Database) -> Coverage:
    return _store.coverage(db)
