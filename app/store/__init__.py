"""sqlite-utils repositories, one module per table family. Functions take a
sqlite_utils.Database; nothing here knows Flask."""

from app.store.db import LogDatabase, connect, create, immediate, migrate, pending_migrations
from app.store.errors import DecisionNotFound, LogUnavailable, StoreError

__all__ = [
    "DecisionNotFound",
    "LogDatabase",
    "LogUnavailable",
    "StoreError",
    "connect",
    "create",
    "immediate",
    "migrate",
    "pending_migrations",
]
