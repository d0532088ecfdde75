"""``flask --app wsgi contracts list|show|add|submit|approve|reject|publish|retire``:
fact contract versions through their lifecycle, from the command line.

The command line acts as the operating-system user (``<user> (command line)``), who is
the same person as the key owner of that name: four eyes hold here as over HTTP (who
created or submitted a version may not approve it).
"""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from app.cli.keys import cli_actor, open_database
from app.core.errors import VigilError

contracts_cli = AppGroup("contracts", help="Fact contract versions: draft, submit, approve, publish, retire.")


def _run(step):
    """Run ``step(db)`` on the database; a refusal is a message and exit status 1."""
    db = open_database()
    try:
        return step(db)
    except VigilError as exc:
        problems = getattr(exc, "details", None) or []
        for problem in problems[:50]:
            click.echo("ERROR " + (f"{problem.get('path')}: " if problem.get("path") else "")
                       + str(problem.get("message", problem)), err=True)
        raise click.ClickException(f"{exc.reason}: {exc.message}") from None
    finally:
        db.close()


def _line(version) -> str:
    return (f"{version.contract_id}@{version.version}  {version.status:<9}  {version.hash[:19]}  "
            f"by {version.created_by}")


@contracts_cli.command("list")
@click.argument("contract_id", required=False)
def list_command(contract_id):
    """Every contract version (or those of CONTRACT_ID) with its status."""
    from app.service import contracts

    for version in _run(lambda db: contracts.list_contracts(db, contract_id)):
        click.echo(_line(version))


@contracts_cli.command("show")
@click.argument("contract_id")
@click.argument("version", type=click.IntRange(1, 2 ** 31))
def show_command(contract_id, version):
    """One contract version as JSON: its status, who did what and when, and its document."""
    from app.service import contracts

    stored = _run(lambda db: contracts.get_contract(db, contract_id, version))
    click.echo(json.dumps({**stored.summary(), "document": stored.document}, indent=2, ensure_ascii=False))


@contracts_cli.command("add")
@click.argument("contract_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def add_command(contract_id, path):
    """Store the YAML file PATH as a new draft version of CONTRACT_ID (checked first)."""
    from app.service import contracts

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read: {exc}") from None
    stored = _run(lambda db: contracts.create(db, contract_id, text, cli_actor()))
    click.echo(f"{_line(stored)}: submit it, then someone else approves and publishes it")


def _step(name: str, help_text: str, **options):
    @contracts_cli.command(name, help=help_text)
    @click.argument("contract_id")
    @click.argument("version", type=click.IntRange(1, 2 ** 31))
    def command(contract_id, version, **kwargs):
        from app.service import contracts

        step = getattr(contracts, name)
        click.echo(_line(_run(lambda db: step(db, contract_id, version, cli_actor(), **kwargs))))
    for option in reversed(options.get("params", [])):
        command = option(command)
    return command


_step("submit", "Submit a contract draft for approval.",
      params=[click.option("--note", help="A note for the approver, kept in the audit event.")])
_step("approve", "Approve a submitted contract version (not one you created or submitted).")
_step("reject", "Reject a submitted contract version, for good.",
      params=[click.option("--reason", required=True, help="Why, for the author and the record.")])
_step("publish", "Publish an approved contract version: served from now on.")
_step("retire", "Retire a contract version no approved or published ruleset version reads.")
