"""``flask --app wsgi keys create|list|revoke``: API keys, from the server's shell.

The command line acts as the operating-system user running it; audit events name them.
"""
from __future__ import annotations

import getpass

import click
from flask import current_app
from flask.cli import AppGroup

from app import store
from app.store import keys as key_store
from app.store.audit import Actor

keys_cli = AppGroup("keys", help="Create, list and revoke API keys.")
keys = keys_cli  # the name app.cli registers

FIRST_KEY_HINT = ("Create an admin key with:\n"
                  "  flask --app wsgi keys create --name first-admin --owner <your name> --role admin")


def cli_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"{user} (command line)")


def open_database():
    path = current_app.config["VIGIL_DATABASE"]
    try:
        db = store.connect(path)
        if store.pending_migrations(db):
            raise store.LogUnavailable()
    except store.StoreError:
        raise click.ClickException(f"{path}: the database is missing or not migrated; "
                                   "run `flask --app wsgi db migrate`") from None
    return db


@keys_cli.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. card-system-prod.")
@click.option("--owner", required=True, help="The person the key acts as (four eyes compare owners).")
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice(key_store.ROLES),
              help="A role; repeat for several.")
@click.option("--queue", "queues", multiple=True,
              help="For an officer: a follow-up queue they work (branch:<code>, or the default queue); repeat "
                   "for several.")
def create_command(name, owner, roles, queues):
    """Create an API key and print it, this once."""
    db = open_database()
    try:
        key, token = key_store.create_key(db, name=name, owner=owner, roles=roles, actor=cli_actor(),
                                          queues=queues)
    except store.StoreError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.close()
    queues = f", working the queues {', '.join(key.queues)}" if key.queues else ""
    click.echo(f"Created key {key.key_id} ({key.name}) for {key.owner} with roles {', '.join(key.roles)}{queues}.",
               err=True)
    click.echo("Keep it now: it is shown only this once.", err=True)
    click.echo(token)


@keys_cli.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked keys too.")
def list_command(include_revoked):
    """List keys (never their secrets); with no admin key yet, say how to make one."""
    db = open_database()
    try:
        listed = key_store.list_keys(db, include_revoked=include_revoked)
    finally:
        db.close()
    for key in listed:
        state = "active" if key.active else f"revoked {key.revoked_at} by {key.revoked_by}"
        queues = f"  queues={','.join(key.queues)}" if key.queues else ""
        click.echo(f"{key.key_id}  {key.name}  owner={key.owner}  roles={','.join(key.roles)}{queues}  "
                   f"created {key.created_at} by {key.created_by}  {state}")
    if not any(k.active and "admin" in k.roles for k in listed):
        click.echo("No active admin key. " + FIRST_KEY_HINT)


@keys_cli.command("queues")
@click.argument("key_id")
@click.option("--queue", "queues", multiple=True,
              help="A follow-up queue the officer works from now on; repeat for several; none: no queue.")
def queues_command(key_id, queues):
    """Set the follow-up queues an officer's key works."""
    db = open_database()
    try:
        key = key_store.set_queues(db, key_id, queues, actor=cli_actor())
    except store.StoreError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.close()
    click.echo(f"Key {key.key_id} ({key.name}, owner {key.owner}) works "
               + (f"the queues {', '.join(key.queues)}." if key.queues else "no queue."))


@keys_cli.command("revoke")
@click.argument("key_id")
def revoke_command(key_id):
    """Revoke a key for good."""
    db = open_database()
    try:
        key = key_store.revoke_key(db, key_id, actor=cli_actor())
    except store.StoreError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.close()
    click.echo(f"Revoked key {key.key_id} ({key.name}, owner {key.owner}) at {key.revoked_at}.")
