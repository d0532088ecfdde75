"""Vigil: a post-loan decision service."""

from __future__ import annotations

from logging import getLogger
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine layer imports this package too, and must not pull in Flask
    from flask import Flask

from app.config import load_config

log = getLogger("vigil")


def _load_library(app: Flask) -> None:
    """Parse, type-check and compile every ruleset once, at start.

    The Library compiles its durable_rules handles lazily in the process that uses
    them, so building it here is safe under gunicorn as long as the app is created
    in each worker (no --preload)."""
    from app.engine import RulesetInvalid, load_library

    app.extensions["vigil.library"] = None
    app.extensions["vigil.library_problems"] = []
    try:
        library = load_library(app.config["VIGIL_RULESETS_DIR"], app.config["VIGIL_SCHEMAS_DIR"])
    except RulesetInvalid as exc:
        problems = exc.details() if hasattr(exc, "details") else list(exc.problems)
        app.extensions["vigil.library_problems"] = problems
        log.error("rulesets invalid; no decision can be made", extra={"problems": problems})
        if app.config["VIGIL_REQUIRE_RULESETS"]:
            raise
        return
    app.extensions["vigil.library"] = library
    log.info("rulesets loaded", extra={
        "rulesets": [f"{r.id}@{r.version}" for r in library.rulesets()]})


def create_app(config: dict | None = None) -> Flask:
    from flask import Flask

    app = Flask(__name__)
    app.config.from_mapping(load_config(config))

    # app/logging.py shadows the standard module's name inside this package.
    import app.logging as vigil_logging
    from app import api, cli

    vigil_logging.init_app(app)
    _load_library(app)
    api.init_app(app)
    cli.init_app(app)
    return app
