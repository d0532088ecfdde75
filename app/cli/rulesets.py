"""``flask --app wsgi rulesets validate|test [PATH...]``.

``validate`` checks contracts and rulesets (structure, every condition against its
contract, the action catalogue, signals, loops) and compiles them, without evaluating
anything. ``test`` also runs each ruleset's scenarios, like ``opa test``: pass/fail per
scenario, a diff for each failure, and the rules no scenario fires. Both exit non-zero
on any problem.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.engine import checks

rulesets_cli = AppGroup("rulesets", help="Check and test the policy rulesets.")
rulesets = rulesets_cli  # the name app.cli registers


def _paths(paths: tuple[str, ...]) -> list[Path]:
    return [Path(p) for p in paths] or [Path(current_app.config["VIGIL_RULESETS_DIR"])]


@rulesets_cli.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def validate_command(paths):
    """Check and compile rulesets (default: every file in the rulesets directory)."""
    ok, _ = checks.validate(_paths(paths), Path(current_app.config["VIGIL_SCHEMAS_DIR"]), click.echo)
    if not ok:
        raise SystemExit(1)


@rulesets_cli.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("-v", "--verbose", is_flag=True, help="List passing scenarios too.")
def test_command(paths, verbose):
    """Run the scenario tests shipped beside each ruleset."""
    ok = checks.test(_paths(paths), Path(current_app.config["VIGIL_SCHEMAS_DIR"]), click.echo, verbose=verbose)
    if not ok:
        raise SystemExit(1)
