"""Flask CLI commands: `flask --app wsgi db migrate|status` here, the engine's
`flask --app wsgi rulesets validate|test` from app/cli/rulesets.py, and
`policies import|list` and `keys create|list|revoke` from app/cli/policies.py and keys.py,
`decisions verify|head|export|purge` and `holds place|list|release` from app/cli/compliance.py,
`contracts list|show|add|submit|approve|reject|publish|retire` from app/cli/contracts.py."""

from __future__ import annotations


import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app import store
from app.store import decision_log

db_cli = AppGroup("db", help="The decision log database.")


@db_cli.command("migrate")
def migrate_command():
    """Create the decision log if missing and apply pending migrations."""
    path = current_app.config["VIGIL_DATABASE"]
    db = store.create(path)
    try:
        applied = store.migrate(db)
    finally:
        db.close()
    click.echo(f"{path}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


@db_cli.command("status")
def status_command():
    """Show pending migrations and how many decisions are logged."""
    path = current_app.config["VIGIL_DATABASE"]
    try:
        db = store.connect(path)
    except store.StoreError:
        raise click.ClickException(f"{path}: cannot open the decision log; run `flask --app wsgi db migrate`")
    try:
        pending = store.pending_migrations(db)
        click.echo(f"{path}: {decision_log.count(db) if not pending else '?'} decisions logged; "
                   + (f"pending migrations: {', '.join(pending)}" if pending else "no pending migrations"))
    finally:
        db.close()


def init_app(app: Flask) -> None:
    from app.cli import compliance, contracts, keys, policies, portfolio, rulesets

    app.cli.add_command(db_cli)
    app.cli.add_command(policies.policies_cli)
    app.cli.add_command(contracts.contracts_cli)
    app.cli.add_command(keys.keys_cli)
    app.cli.add_command(compliance.decisions_cli)
    app.cli.add_command(compliance.holds_cli)
    app.cli.add_command(rulesets.rulesets_cli)
    app.cli.add_command(portfolio.portfolio)
