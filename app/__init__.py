"""Vigil: a post-loan decision service."""

from __future__ import annotations

from logging import getLogger
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine layer imports this package too, and must not pull in Flask
    from flask import Flask

from app.config import load_config

log = getLogger("vigil")


def load_library(app: Flask):
    """The policies to serve, loaded from the database and compiled the first time they
    are needed, then kept in ``app.extensions``; the API keeps them current
    (app/api/serving.py).

    Compiling every stored ruleset costs far more than starting a command, so a command
    that never evaluates never compiles: only gunicorn workers (VIGIL_REQUIRE_RULESETS)
    load at start. Each version loads on its own: one that does not compile is named in
    the log (and in /readyz) and the others are served. The Library compiles its
    durable_rules handles in the process that uses them, which is safe under gunicorn as
    long as the app is created in each worker (no --preload). A database that cannot be
    read yet (not migrated) leaves no library, which the API answers with 503 until it can."""
    from app import store
    from app.service import served

    if app.extensions.get("vigil.library") is not None:
        return app.extensions["vigil.library"]
    app.extensions["vigil.library_problems"] = []
    try:
        db = store.connect(app.config["VIGIL_DATABASE"])
    except store.StoreError:
        log.warning("the database cannot be opened; no policies are loaded yet")
        return None
    try:
        library = served.load(db, check=served.in_a_checker(db))
    except store.StoreError:
        log.warning("the database is not migrated; no policies are loaded yet")
        return None
    finally:
        db.close()
    app.extensions["vigil.library"] = library
    log.info("rulesets loaded", extra={
        "rulesets": [f"{r.id}@{r.version}" for r in library.rulesets()]})
    served.log_failures(library, log)
    return library


def create_app(config: dict | None = None) -> Flask:
    from flask import Flask

    app = Flask(__name__)
    app.config.from_mapping(load_config(config))

    # app/logging.py shadows the standard module's name inside this package.
    import app.logging as vigil_logging
    from app import api, cli, console, service

    vigil_logging.init_app(app)
    service.init_app(app)
    app.extensions["vigil.library"] = None
    app.extensions["vigil.library_problems"] = []
    if app.config["VIGIL_REQUIRE_RULESETS"]:
        load_library(app)
    api.init_app(app)
    console.init_app(app)
    cli.init_app(app)
    return app
