"""The README's examples, run as written against a live gunicorn server."""

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def sh_blocks(title: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", section(title), re.S)


def readme_decision_snapshot() -> dict:
    first = sh_blocks("Try it")[1]
    body = re.search(r"-d '(.*?)'\n", first, re.S).group(1)
    return json.loads(body)["snapshot"]


def run_block(block: str, server, key: str | None = None) -> str:
    """Run a README block from the project root against the live server (its database
    for `flask` commands), with ``key`` in VIGIL_KEY."""
    script = block.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
    # Files a block keeps in ${TMPDIR:-/tmp} go to this server's own directory: another
    # run of the suite on the machine must not overwrite them meanwhile.
    env = {**server.env, "VIGIL_KEY": key or "", "TMPDIR": str(Path(server.db_path).parent)}
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env=env)
    assert out.returncode == 0, f"{script}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"
    return out.stdout


def test_setup_commands_are_make_run_and_make_test():
    [block] = sh_blocks("Set up")
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/bin/sh") and "make test" in ci


def test_every_endpoint_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    for path, methods in spec["paths"].items():
        for method in set(methods) & {"get", "post", "put", "patch", "delete"}:
            assert f"`{method.upper()} {path}`" in section("API"), f"{method.upper()} {path} not in README"


@pytest.mark.live
def test_curl_examples_run_against_a_live_server(live_server):
    assert shutil.which("curl"), "the README's examples need curl"
    blocks = sh_blocks("Try it")
    assert len(blocks) == 6

    # The first block makes the admin key the others send, with the command line.
    key = run_block(blocks[0] + '\necho "$VIGIL_KEY"', live_server).strip()
    assert key.startswith("vgl_")

    decision = json.loads(run_block(blocks[1], live_server, key))
    assert {a["action"] for a in decision["actions"]} == {"reduce_limit", "contact_customer"}
    assert all(a["rules"] for a in decision["actions"])
    assert decision["trail"] and decision["trail"][0]["values"]
    assert decision["level"] == "orange"

    out = run_block(blocks[2], live_server, key).splitlines()
    assert out[0] == "same decision"
    fetched = json.loads(out[1])
    assert fetched["client_request_id"] == "review-2026-04-C-100004"

    batch = json.loads(run_block(blocks[3], live_server, key))
    assert [r["status"] for r in batch["results"]] == [200, 422, 404]
    assert batch["decided"] == 1

    listed, contract = run_block(blocks[4], live_server, key).splitlines()
    assert "retail_card" in {r["id"] for r in json.loads(listed)["rulesets"]}
    assert json.loads(contract)["id"] == "retail_card"

    health = run_block(blocks[5], live_server)  # no key needed
    assert '"status":"ok"' in health.replace(" ", "")
    # Three decisions so far (the retry returned the first one), each counted once.
    decided = re.findall(r'^vigil_decisions_total\{.*\} (\S+)$', health, re.M)
    assert sum(float(n) for n in decided) == 3
    assert re.search(r'^vigil_actions_total\{.*action="reduce_limit".*\} 1\.0$', health, re.M)

    # Governance: its blocks run in one shell, in order.
    out = run_block("\n".join(sh_blocks("Governance")), live_server, key).splitlines()
    assert out[0] == "draft version 2"
    submitted = json.loads(out[1])
    assert submitted == {"version": 2, "status": "submitted", "findings": []}
    [changed] = json.loads(out[2])["changed"]
    assert changed["rule"] == "ACT-010" and set(changed["changes"]) == {"actions"}
    assert out[3] == "four_eyes"
    assert json.loads(out[4]) == {"status": "approved", "approved_by": "bob"}
    assert json.loads(out[5])["kind"] == "publish"
    assert json.loads(out[6]) == {"kind": "rollback", "version": 1}
    scheduled = json.loads(out[7])
    assert scheduled["kind"] == "schedule" and scheduled["effective_at"].endswith("T06:00:00.000000Z")
    # Contract versions: a bomb refused, then a new version under four eyes
    reason, details = out[8].split(" ", 1)
    assert reason == "ruleset_invalid" and {"file": "contract retail_card", "path": "card.dpd",
                                            "message": "max must be a number, not text"} in json.loads(details)
    assert out[9] == "contract draft version 4"
    assert json.loads(out[10]) == {"versions": [1, 2, 3]}
    assert json.loads(out[11]) == {"version": 4, "status": "submitted"}
    assert out[12] == "four_eyes"
    assert json.loads(out[13]) == {"status": "approved", "approved_by": "bob"}
    assert json.loads(out[14]) == {"status": "published", "published_by": "bob"}
    assert json.loads(out[15]) == {"versions": [1, 2, 3, 4]}
    trail = [line.split()[1:4] for line in out[16:]]
    assert trail[-7:] == [["alice", "version.create", "ruleset:retail_card@2"],
                          ["alice", "version.submit", "ruleset:retail_card@2"],
                          ["alice", "version.approve_refused", "ruleset:retail_card@2"],
                          ["bob", "version.approve", "ruleset:retail_card@2"],
                          ["bob", "ruleset.publish", "ruleset:retail_card@2"],
                          ["bob", "ruleset.rollback", "ruleset:retail_card@1"],
                          ["bob", "ruleset.schedule", "ruleset:retail_card@2"]]

    # Access control: with the first admin key from the command line, a key over HTTP.
    [block] = sh_blocks("Access control")
    made = json.loads(run_block(block, live_server, key))
    me = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    assert made["roles"] == ["decide"] and made["key"].startswith("vgl_") and made["created_by"] == me


@pytest.mark.live
def test_compliance_examples_run_against_a_live_server(live_server):
    blocks = sh_blocks("Try it")
    key = run_block(blocks[0] + '\necho "$VIGIL_KEY"', live_server).strip()
    run_block(blocks[1], live_server, key)   # C-100001: limit cut
    run_block(blocks[2], live_server, key)   # C-100004: nothing to do
    compliance = sh_blocks("Compliance")
    assert len(compliance) == 4
    out = run_block("\n".join(compliance), live_server, key).splitlines()
    assert out[0].startswith("Warning level orange (set by ACT-010), review monthly (set by ACT-010).")
    assert out[1].startswith("1. Reduce the credit limit (percent 30) - an adverse action. Because of rule ACT-010")
    assert "card.utilization at or below 0.80 would have avoided it" in out[1]
    assert out[2].startswith("2. Contact the customer.")
    assert out[3] == "['C-100001']"
    assert json.loads(out[4]) == {"identical": True, "diff": {}}
    [(_, actions)] = ast.literal_eval(out[5])
    assert actions == "reduce_limit(percent=30); contact_customer"
    assert out[6] == "True 2 True"
    assert out[7].startswith("ok: 2 decisions verified (0 purged), head seq 2 ")
    assert "; reaches the exported head at seq 2; " in out[7] and out[7].endswith(" audit events verified")
    assert out[8] == "C-100001 dana True"
    assert out[9].startswith("dry run: 0 decisions before ") and out[9].endswith("0 kept by legal holds")
    assert [line.split()[1] for line in out[10:]] == [
        "decision.search", "decision.explain", "decision.search", "decision.replay", "decision.export",
        "decision.head", "decision.verify"]


def test_every_cli_command_is_documented(app):
    for group_name in ("db", "rulesets", "policies", "contracts", "keys", "decisions", "holds"):
        group = app.cli.commands[group_name]
        for command in group.commands:
            assert re.search(rf"flask --app wsgi {group_name} [a-z|]*\b{command}\b", README), \
                f"flask {group_name} {command} not in README"


@pytest.mark.live
def test_portfolio_examples_run_as_pasted_in_order(live_server, tmp_path):
    """On a fresh service, as a newcomer pastes them: in a directory of their own (a
    checkout's files, an empty out/), so nothing is left in this one."""
    for name in (".venv", "app", "wsgi.py", "rulesets", "schemas", "migrations", "requirements.txt",
                 "requirements-demo.txt"):
        (tmp_path / name).symlink_to(ROOT / name)
    key = run_block(sh_blocks("Try it")[0] + '\necho "$VIGIL_KEY"', live_server).strip()
    blocks = sh_blocks("Portfolio review and simulation")
    # the last two start Dask schedulers and workers in the background: tests/portfolio/test_dask.py
    # runs them
    assert len(blocks) == 6 and all("--scheduler" in block for block in blocks[4:])

    def run(block: str) -> str:
        script = block.replace("127.0.0.1:8000", f"127.0.0.1:{live_server.port}")
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                             timeout=300, cwd=tmp_path, env={**live_server.env, "VIGIL_KEY": key})
        assert out.returncode == 0, f"{script}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"
        return out.stdout

    review = run(blocks[0])
    assert "out/loans.jsonl: 1,000 made-up personal-loan snapshots" in review
    assert "Reviewed 1,000 records of out/loans.jsonl with personal_loan@1" in review
    assert "decision log: 1,000 decisions logged" in review
    assert len((tmp_path / "out" / "loans.results.jsonl").read_text().splitlines()) == 1000

    simulated = run(blocks[1])
    assert simulated.startswith("Simulation of personal_loan@1 against personal_loan@1 on 1,000 snapshots")
    assert "(draft from out/draft.yaml)" in simulated
    assert "  rule OWN-001 edited: when any(l in loans: l.dpd >= 30) -> any(l in loans: l.dpd >= 15)" in simulated
    report = json.loads((tmp_path / "out" / "impact.json").read_text())
    assert report["changed_count"] > 0 and report["note"] is None
    assert (tmp_path / "out" / "impact.html").read_text().startswith("<!DOCTYPE html>")

    over_http = run(blocks[2])
    assert re.fullmatch(r"simulation [0-9a-f-]+: done\n", over_http), over_http
    page = (tmp_path / "out" / "impact-http.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and '<span class="badge">stored, draft</span>' in page
    assert "On snapshots from the decision log, " in page and "No snapshots to simulate" not in page

    converted = run(blocks[3])
    assert "out/lendingclub.jsonl: 10,000 personal-loan snapshots from Lending Club loans" in converted
