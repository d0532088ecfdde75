"""`flask --app wsgi policies import|list` and `keys create|list|revoke`."""

import json

import pytest

from app import create_app, store
from app.service import policies
from app.store import audit, keys
from tests.conftest import ROOT


@pytest.fixture
def empty_path(tmp_path):
    path = str(tmp_path / "fresh.db")
    store.migrate(store.create(path))
    return path


def runner_for(path, **config):
    return create_app({"VIGIL_DATABASE": path, **config}).test_cli_runner()


def test_first_import_publishes_and_later_runs_change_nothing(empty_path):
    runner = runner_for(empty_path)
    result = runner.invoke(args=["policies", "import", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "ruleset retail_card@1 imported from" in result.output and "and published" in result.output
    assert runner.invoke(args=["policies", "import", "--if-empty"]).output.strip() == "policies: already imported"
    assert runner.invoke(args=["policies", "import"]).output.strip() == "policies: nothing new to import"
    listed = runner.invoke(args=["policies", "list"]).output
    assert "retail_card@1  published" in listed and "IN EFFECT" in listed


def test_import_refuses_broken_files_and_stores_nothing(empty_path, tmp_path):
    rulesets = tmp_path / "rulesets"
    rulesets.mkdir()
    (rulesets / "retail_card.yaml").write_text((ROOT / "rulesets" / "retail_card.yaml").read_text())
    (rulesets / "broken.yaml").write_text("id: broken\nversion: 1\ncontract: nope@1\nrules: []\n")
    result = runner_for(empty_path, VIGIL_RULESETS_DIR=str(rulesets)).invoke(args=["policies", "import"])
    assert result.exit_code == 1
    assert "ERROR" in result.output and "nope@1" in result.output and "nothing was imported" in result.output
    db = store.connect(empty_path)
    assert policies.count_versions(db) == 0 and policies.list_contracts(db) == []
    db.close()


def test_keys_from_the_command_line(db_path):
    runner = runner_for(db_path)
    created = runner.invoke(args=["keys", "create", "--name", "card-system", "--owner", "card-platform",
                                  "--role", "decide", "--role", "audit"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    db = store.connect(db_path)
    key = keys.authenticate(db, token)
    assert key.roles == ("decide", "audit") and key.owner == "card-platform"
    [event] = audit.list_events(db, target=f"key:{key.key_id}").events
    assert event.actor.endswith("(command line)") and event.key_id is None
    listed = runner.invoke(args=["keys", "list"]).output
    assert key.key_id in listed and token.split("_", 2)[2] not in listed
    assert "No active admin key" not in listed  # the test database has one
    revoked = runner.invoke(args=["keys", "revoke", key.key_id])
    assert revoked.exit_code == 0 and keys.authenticate(db, token) is None
    assert key.key_id not in runner.invoke(args=["keys", "list"]).output
    assert key.key_id in runner.invoke(args=["keys", "list", "--all"]).output
    assert runner.invoke(args=["keys", "revoke", "000000000000"]).exit_code == 1
    bad = runner.invoke(args=["keys", "create", "--name", "x", "--owner", "y", "--role", "root"])
    assert bad.exit_code == 2
    db.close()


def test_an_officer_key_from_the_command_line_works_queues(db_path):
    runner = runner_for(db_path)
    created = runner.invoke(args=["keys", "create", "--name", "rm-0100", "--owner", "rm-0100", "--role", "officer",
                                  "--queue", "branch:0101", "--queue", "default"])
    assert created.exit_code == 0, created.output
    db = store.connect(db_path)
    key = keys.authenticate(db, created.stdout.strip().splitlines()[-1])
    assert key.queues == ("branch:0101", "default")
    db.close()
    assert "queues=branch:0101,default" in runner.invoke(args=["keys", "list"]).output
    changed = runner.invoke(args=["keys", "queues", key.key_id, "--queue", "branch:0202"])
    assert changed.exit_code == 0 and "works the queues branch:0202." in changed.output
    assert "queues=branch:0202  " in runner.invoke(args=["keys", "list"]).output
    refused = runner.invoke(args=["keys", "create", "--name", "x", "--owner", "x", "--role", "decide",
                                  "--queue", "default"])
    assert refused.exit_code == 1 and "officer role" in refused.stderr


def test_keys_create_twice_with_one_name_makes_one_key(db_path):
    runner = runner_for(db_path)
    args = ["keys", "create", "--name", "first-admin", "--owner", "ada", "--role", "admin"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "vgl_" not in again.stdout
    [line] = again.stderr.strip().splitlines()
    assert line.startswith("Error: The active key ") and "'first-admin'" in line
    db = store.connect(db_path)
    assert [k.name for k in keys.list_keys(db)].count("first-admin") == 1
    db.close()


def test_keys_list_says_how_to_make_the_first_admin_key(empty_path):
    output = runner_for(empty_path).invoke(args=["keys", "list"]).output
    assert "No active admin key" in output
    assert "flask --app wsgi keys create --name first-admin --owner <your name> --role admin" in output


def test_commands_need_a_migrated_database(tmp_path):
    result = runner_for(str(tmp_path / "missing.db")).invoke(args=["keys", "list"])
    assert result.exit_code == 1 and "db migrate" in result.output


def test_contract_versions_from_the_command_line(db_path, tmp_path, monkeypatch):
    import getpass

    contract = tmp_path / "retail_card.yaml"
    text = (ROOT / "schemas" / "retail_card.v3.yaml").read_text()
    contract.write_text(text.replace("      dpd:\n", "      autopay:\n        type: boolean\n      dpd:\n", 1))
    runner = runner_for(db_path)
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    added = runner.invoke(args=["contracts", "add", "retail_card", str(contract)])
    assert added.exit_code == 0, added.output
    assert added.output.startswith("retail_card@4  draft ")
    assert runner.invoke(args=["contracts", "submit", "retail_card", "4", "--note", "autopay"]).exit_code == 0
    refused = runner.invoke(args=["contracts", "approve", "retail_card", "4"])
    assert refused.exit_code == 1 and "four_eyes" in refused.output
    monkeypatch.setattr(getpass, "getuser", lambda: "bob")
    for step in ("approve", "publish"):
        done = runner.invoke(args=["contracts", step, "retail_card", "4"])
        assert done.exit_code == 0, done.output
    listed = runner.invoke(args=["contracts", "list", "retail_card"]).output.splitlines()
    assert [line.split()[:2] for line in listed] == [["retail_card@1", "published"], ["retail_card@2", "published"],
                                                     ["retail_card@3", "published"], ["retail_card@4", "published"]]
    db = store.connect(db_path)
    assert {c.key for c in policies.library_of_contracts(db).contracts()} >= {"retail_card@4"}
    assert [e.actor for e in audit.list_events(db, target="contract:retail_card@4").events] == [
        "alice (command line)", "alice (command line)", "alice (command line)", "bob (command line)",
        "bob (command line)"]
    db.close()
    # a bomb from a file is refused, naming the field, and nothing is stored
    contract.write_text(text.replace("max: 3650", "max: 1e300000", 1))
    bomb = runner.invoke(args=["contracts", "add", "retail_card", str(contract)])
    assert bomb.exit_code == 1 and "card.dpd: max must be a number, not text" in bomb.output
    assert "retail_card@5" not in runner.invoke(args=["contracts", "list"]).output
    shown = runner.invoke(args=["contracts", "show", "retail_card", "4"])
    assert json.loads(shown.output)["document"]["fields"]["card"]["fields"]["autopay"] == {"type": "boolean"}
