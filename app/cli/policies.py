"""``flask --app wsgi policies import|list``: the policies stored in the database.

``import`` brings the shipped ``rulesets/`` and ``schemas/`` files into the database:
on first start each ruleset is published as it ships; later, content not stored yet
becomes a submitted version for an approver. ``list`` shows every ruleset version,
its status, and which is in effect.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.cli.keys import cli_actor, open_database
from app.engine import RulesetInvalid
from app.service import policies
from app.store import StoreError, times
from app.store.audit import SYSTEM

policies_cli = AppGroup("policies", help="Import and list the stored rulesets and contracts.")
policies_group = policies_cli  # the name app.cli registers


@policies_cli.command("import")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds rulesets.")
def import_command(if_empty):
    """Import the shipped rulesets and contracts (see docs: first start publishes them)."""
    db = open_database()
    try:
        if if_empty and policies.count_versions(db):
            click.echo("policies: already imported")
            return
        actor = SYSTEM if not policies.count_versions(db) else cli_actor()
        report = policies.import_files(db, current_app.config["VIGIL_RULESETS_DIR"],
                                       current_app.config["VIGIL_SCHEMAS_DIR"], actor)
    except RulesetInvalid as exc:
        for problem in exc.problems:
            click.echo(f"ERROR {problem}", err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s); nothing was imported") from None
    except StoreError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.close()
    for line in report.lines:
        click.echo(line)
    if not report.lines:
        click.echo("policies: nothing new to import")


@policies_cli.command("list")
def list_command():
    """Every ruleset version with its status, and the version in effect."""
    db = open_database()
    try:
        versions = policies.list_versions(db)
        history = policies.list_publications(db)
    finally:
        db.close()
    now = times.now()
    for version in versions:
        current = policies.in_effect([p for p in history if p.ruleset_id == version.ruleset_id], now)
        mark = "  IN EFFECT" if current is not None and current.version == version.version else ""
        click.echo(f"{version.ruleset_id}@{version.version}  {version.status:<9}  {version.hash[:19]}  "
                   f"by {version.created_by}{mark}")
