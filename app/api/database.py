"""One decision-log connection per request, opened when first needed, closed in teardown."""

from __future__ import annotations

from flask import Flask, current_app, g

from app import store


def get_log() -> store.LogDatabase:
    if "log_db" not in g:
        config = current_app.config
        g.log_db = store.connect(
            config["VIGIL_DATABASE"],
            synchronous=config["VIGIL_SQLITE_SYNCHRONOUS"],
            busy_timeout_ms=config["VIGIL_SQLITE_BUSY_TIMEOUT_MS"],
        )
    return g.log_db


def close_log(exc: BaseException | None = None) -> None:
    db = g.pop("log_db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_log)
