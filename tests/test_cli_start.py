"""A `flask --app wsgi ...` command starts without compiling a ruleset or importing what
it does not use, and speaks in plain text: no JSON log lines unless VIGIL_LOG_LEVEL asks.
How long a start takes is measured by bench/cli.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import BIN, ROOT


def _env(db_path: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "FLASK_"))}
    return {**env, "VIGIL_DATABASE": db_path, **extra}


def flask(db_path: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=_env(db_path, **env),
                          capture_output=True, text=True, timeout=120)


def test_a_command_that_does_not_evaluate_does_not_compile(db_path):
    # The app as `flask` builds it: FLASK_RUN_FROM_CLI is set before wsgi is imported.
    probe = ("import os, sys; os.environ['FLASK_RUN_FROM_CLI'] = 'true'; import wsgi; import json; "
             "print(json.dumps({'library': wsgi.app.extensions['vigil.library'] is not None, "
             "'modules': sorted(m for m in ('pandas', 'numpy', 'durable_rules') if m in sys.modules)}))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_env(db_path),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"library": False, "modules": []}
    assert out.stderr == ""


def test_commands_print_no_log_lines_unless_asked(db_path, tmp_path):
    listed = flask(db_path, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "test-admin" in listed.stdout and listed.stderr == ""

    # A command that evaluates loads the rulesets on demand, still without a log line...
    snapshots = tmp_path / "one.jsonl"
    snapshots.write_text(json.dumps({"ruleset_id": "retail_card", "customer_id": "C-1", "snapshot": {}}) + "\n")
    review = flask(db_path, "portfolio", "review", str(snapshots), "--ruleset", "retail_card", "--workers", "0",
                   "--no-progress")
    assert review.returncode == 0, review.stderr
    assert "with retail_card@1" in review.stdout
    assert not [line for line in review.stderr.splitlines() if line.startswith("{")]

    # ...and writes them when VIGIL_LOG_LEVEL asks.
    asked = flask(db_path, "portfolio", "review", str(snapshots), "--ruleset", "retail_card", "--workers", "0",
                  "--no-progress", "--restart", VIGIL_LOG_LEVEL="INFO")
    assert asked.returncode == 0, asked.stderr
    lines = [json.loads(line) for line in asked.stderr.splitlines() if line.startswith("{")]
    assert any(line["message"] == "rulesets loaded" for line in lines)
