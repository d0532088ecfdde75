"""`flask --app wsgi policies import|list` and `keys create|list|revoke`."""

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
