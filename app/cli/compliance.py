"""``flask --app wsgi decisions verify|head|export|purge`` and ``holds place|list|release``:
the decision log for compliance and operations, from the server's shell.

The command line acts as the operating-system user running it: every read of the log
(verify, head, export) and every change (purge, holds) is an audit event naming them.
"""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from app.core import codec
from app import store
from app.cli.keys import cli_actor, open_database
from app.service import log_search as search
from app.store import chain, retention, times
from app.store.audit import record_event

decisions_cli = AppGroup("decisions", help="The decision log: verify its hash chain, export it, purge expired content.")
decisions = decisions_cli  # the name app.cli registers
holds_cli = AppGroup("holds", help="Legal holds: keep a customer's decisions whole past their retention period.")


def _fail(exc: store.StoreError):
    raise click.ClickException(exc.message) from None


@decisions_cli.command("head")
@click.option("--output", "-o", type=click.File("w"), default="-", help="Write the head here (default: stdout).")
def head_command(output):
    """Print the log's head as JSON ({seq, chain_hash, count, at, audit_seq, audit_chain_hash}); keep it outside the
    service and give it to `verify --head` later."""
    db = open_database()
    try:
        head = chain.head(db)
        record_event(db, cli_actor(), "decision.head", "decisions", head.to_dict())
    except store.StoreError as exc:
        _fail(exc)
    finally:
        db.close()
    output.write(codec.dumps(head.to_dict()) + "\n")


@decisions_cli.command("verify")
@click.option("--head", "head_file", type=click.File("r"), help="A head exported earlier: check the log still reaches it.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def verify_command(head_file, as_json):
    """Check the whole hash chain; name the first broken record and how it broke. Exits 1
    if the log is broken."""
    against = None
    if head_file is not None:
        try:
            against = chain.Head.from_dict(json.load(head_file))
        except (ValueError, store.StoreError) as exc:
            raise click.ClickException(f"{head_file.name}: not an exported head ({exc})") from None
    db = open_database()
    try:
        report = chain.verify(db, against)
        record_event(db, cli_actor(), "decision.verify", "decisions", report.summary())
    except store.StoreError as exc:
        _fail(exc)
    finally:
        db.close()
    if as_json:
        click.echo(codec.dumps(report.to_dict()))
    elif report.ok:
        click.echo(f"ok: {report.checked} decisions verified ({report.purged} purged), head seq {report.head.seq} "
                   f"{report.head.chain_hash}" + (f"; reaches the exported head at seq {against.seq}" if against else "")
                   + f"; {report.audit.checked} audit events verified")
    else:
        p = report.problem
        if p is not None:
            click.echo(f"BROKEN at seq {p.seq}: {p.kind}: {p.message} ({report.checked} decisions verified before it)")
        else:
            click.echo(f"ok: {report.checked} decisions verified ({report.purged} purged)")
        a = report.audit.problem
        if a is not None:
            click.echo(f"BROKEN audit event at seq {a.seq}: {a.kind}: {a.message} "
                       f"({report.audit.checked} audit events verified before it)")
    if not report.ok:
        sys.exit(1)


def _filter_options(func):
    for option in reversed([
        click.option("--customer", "customer_id", help="A customer id."),
        click.option("--from", "since", help="Decided at or after (ISO 8601 with a time zone)."),
        click.option("--to", "until", help="Decided before (ISO 8601 with a time zone)."),
        click.option("--ruleset", "ruleset_id", help="A ruleset id."),
        click.option("--version", "ruleset_version", type=int, help="A ruleset version."),
        click.option("--rule", help="A rule that fired."),
        click.option("--action", help="A final action."),
        click.option("--level", help="A warning level."),
        click.option("--q", help="Words of the explanation."),
    ]):
        func = option(func)
    return func


def _when(text: str | None, name: str) -> str | None:
    if text is None:
        return None
    try:
        return times.iso(times.parse(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@decisions_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(search.EXPORT_FORMATS), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write here (default: stdout).")
@_filter_options
def export_command(fmt, output, customer_id, since, until, ruleset_id, ruleset_version, rule, action, level, q):
    """Export every decision a search finds, newest first, as CSV or JSON Lines, streamed."""
    filters = search.Filters(customer_id=customer_id, since=_when(since, "--from"), until=_when(until, "--to"),
                             ruleset_id=ruleset_id, ruleset_version=ruleset_version, rule=rule, action=action,
                             level=level, q=q)
    db = open_database()
    try:
        exported = search.export(db, filters, fmt)
        record_event(db, cli_actor(), "decision.export", "decisions",
                     {"filters": filters.to_dict(), "format": fmt, "count": exported.count,
                      "through_seq": exported.through_seq, "output": output})
        with click.open_file(output, "w", encoding="utf-8") as out:
            for chunk in exported.chunks:
                out.write(chunk)
    except store.StoreError as exc:
        _fail(exc)
    finally:
        db.close()
    click.echo(f"exported {exported.count} decisions (through seq {exported.through_seq})", err=True)


@decisions_cli.command("index")
def index_command():
    """Index every decision not yet searchable by rule, action or words (a search does
    this for at most VIGIL_SEARCH_INDEX_SECONDS; run this after a bulk load or on a
    schedule so searches find the index complete). Safe while the service runs."""
    db = open_database()
    try:
        reach = before = search.coverage(db)
        while reach.indexed_through < before.newest:  # what was logged when it started
            search.catch_up(db, seconds=5.0)
            reach = search.coverage(db)
            click.echo(f"indexed through seq {reach.indexed_through} of {reach.newest}", err=True)
    except store.StoreError as exc:
        _fail(exc)
    finally:
        db.close()
    click.echo(f"indexed through seq {reach.indexed_through} "
               f"({reach.indexed_through - before.indexed_through} decisions indexed now)")


@decisions_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
def purge_command(dry_run):
    """Remove the content of decisions older than VIGIL_RETENTION_DAYS whose customer is
    not under a legal hold; their place in the hash chain stays and verifies."""
    days = int(current_app.config["VIGIL_RETENTION_DAYS"])
    db = open_database()
    try:
        report = retention.purge(db, retention_days=days, actor=cli_actor(), dry_run=dry_run)
    except store.StoreError as exc:
        _fail(exc)
    finally:
        db.close()
    kept = f"{report.held} kept by legal holds"
    if dry_run:
        click.echo(f"dry run: {report.expired - report.held} decisions before {report.cutoff} "
                   f"({days} days) would be purged; {kept}")
    else:
        click.echo(f"purged {report.purged} decisions before {report.cutoff} ({days} days); {kept}")


@holds_cli.command("place")
@click.argument("customer_id")
@click.option("--reason", required=True, help="Why: the case, complaint or order.")
def place_command(customer_id, reason):
    """Place a legal hold on a customer's decisions."""
    db = open_database()
    try:
        hold = retention.place_hold(db, customer_id, reason, cli_actor())
    except store.StoreError as exc:
        _fail(exc)
    finally:
        db.close()
    click.echo(f"hold {hold.hold_id} placed on {hold.customer_id} by {hold.placed_by}")


@holds_cli.command("list")
@click.option("--all", "include_released", is_flag=True, help="Released holds too.")
@click.option("--customer", "customer_id", help="Only this customer's.")
def list_holds_command(include_released, customer_id):
    """List legal holds."""
    db = open_database()
    try:
        holds = retention.list_holds(db, customer_id=customer_id, include_released=include_released)
    finally:
        db.close()
    for hold in holds:
        state = "active" if hold.active else f"released {hold.released_at} by {hold.released_by}"
        click.echo(f"{hold.hold_id}  {hold.customer_id}  placed {hold.placed_at} by {hold.placed_by}  {state}  "
                   f"{hold.reason}")


@holds_cli.command("release")
@click.argument("hold_id")
@click.option("--reason", help="Why it is released.")
def release_command(hold_id, reason):
    """Release a legal hold, once."""
    db = open_database()
    try:
        hold = retention.release_hold(db, hold_id, cli_actor(), reason)
    except store.StoreError as exc:
        _fail(exc)
    finally:
        db.close()
    click.echo(f"hold {hold.hold_id} on {hold.customer_id} released by {hold.released_by}")
