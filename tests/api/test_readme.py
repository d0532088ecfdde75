"""The README's examples, run as written against a live gunicorn server."""

import json
import re
import shutil
import subprocess

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
    first = sh_blocks("Try it")[0]
    body = re.search(r"-d '(.*?)'\n", first, re.S).group(1)
    return json.loads(body)["snapshot"]


def run_block(block: str, port: int) -> str:
    script = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
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
    assert len(blocks) == 5

    decision = json.loads(run_block(blocks[0], live_server.port))
    assert {a["action"] for a in decision["actions"]} == {"reduce_limit", "contact_customer"}
    assert all(a["rules"] for a in decision["actions"])
    assert decision["trail"] and decision["trail"][0]["values"]
    assert decision["level"] == "orange"

    out = run_block(blocks[1], live_server.port).splitlines()
    assert out[0] == "same decision"
    fetched = json.loads(out[1])
    assert fetched["client_request_id"] == "review-2026-04-C-100004"

    batch = json.loads(run_block(blocks[2], live_server.port))
    assert [r["status"] for r in batch["results"]] == [200, 422, 404]
    assert batch["decided"] == 1

    listed, contract = run_block(blocks[3], live_server.port).splitlines()
    assert "retail_card" in {r["id"] for r in json.loads(listed)["rulesets"]}
    assert json.loads(contract)["id"] == "retail_card"

    health = run_block(blocks[4], live_server.port)
    assert '"status":"ok"' in health.replace(" ", "")
    assert re.search(r'^vigil_decisions_total\{.*action="reduce_limit".*\} 1\.0$', health, re.M)


def test_every_cli_command_is_documented(app):
    for group_name in ("db", "rulesets"):
        group = app.cli.commands[group_name]
        for command in group.commands:
            assert re.search(rf"flask --app wsgi {group_name} [a-z|]*\b{command}\b", README), \
                f"flask {group_name} {command} not in README"
