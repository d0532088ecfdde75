"""Fact contract versions under four eyes: what an author alone stores is never read by
serving code, each step is an audit event, and the shipped files and existing
databases keep being served (no Flask)."""

import copy
import sqlite3

import pytest
import yaml

from app import store
from app.engine import RulesetInvalid
from app.service import contracts, policies
from app.service import served as serving
from app.store import audit
from app.store.audit import Actor
from app.store.errors import ApprovalRefused, FourEyes, WrongStatus
from tests.conftest import ROOT
from tests.policies import act010_cut

ALICE = Actor("alice", "k-alice")
BOB = Actor("bob", "k-bob")
# A key Alice made for Carol: Carol's approval of Alice's contract must not count.
CAROL_BY_ALICE = Actor("carol", "k-carol", key_created_by="Alice")

CONTRACT = yaml.safe_load((ROOT / "schemas" / "retail_card.v3.yaml").read_text())


def with_autopay() -> dict:
    document = copy.deepcopy(CONTRACT)
    document["fields"]["card"]["fields"]["autopay"] = {"type": "boolean", "description": "Pays by direct debit."}
    return document


def ruleset_on(contract_version: int) -> tuple[str, str]:
    policy, tests = act010_cut(35)
    assert policy.count("contract: retail_card@3") == 1
    return policy.replace("contract: retail_card@3", f"contract: retail_card@{contract_version}"), tests


def actions(db, target):
    return [e.action for e in audit.list_events(db, target=target, limit=1000).events]


def served_contracts(db) -> set[str]:
    return {c.key for c in serving.load(db, warm=False).contracts()}


def test_an_author_alone_cannot_make_a_contract_version_that_serving_reads(log_db):
    draft = contracts.create(log_db, "retail_card", with_autopay(), ALICE)
    assert (draft.version, draft.status, draft.created_by) == (4, "draft", "alice")
    contracts.submit(log_db, "retail_card", 4, ALICE)
    # Not served, not in the library rulesets compile against outside a draft check
    assert "retail_card@4" not in served_contracts(log_db)
    assert "retail_card@4" not in {c.key for c in policies.library_of_contracts(log_db).contracts()}
    # A ruleset draft may name it, and its author may try it ...
    policy, tests = ruleset_on(4)
    ruleset_draft = policies.create_draft(log_db, "retail_card", policy, tests, ALICE)
    submitted = policies.submit(log_db, "retail_card", ruleset_draft.version, ALICE)
    assert submitted.scenario_results["failed"] == 0
    # ... but no one can approve it while the contract version is not published,
    with pytest.raises(ApprovalRefused, match=r"retail_card@4, which is submitted"):
        policies.approve(log_db, "retail_card", submitted.version, BOB)
    assert policies.get_version(log_db, "retail_card", submitted.version).status == "submitted"
    # and a simulation or any published-only compile refuses the contract
    with pytest.raises(RulesetInvalid, match="only a published contract version"):
        policies.compile_document(log_db, submitted.document, submitted.target)
    # Alice cannot approve her own contract, nor through a key she made for Carol
    for actor in (ALICE, Actor(" ALICE ", "k-other"), CAROL_BY_ALICE):
        with pytest.raises(FourEyes):
            contracts.approve(log_db, "retail_card", 4, actor)
    approved = contracts.approve(log_db, "retail_card", 4, BOB)
    assert (approved.status, approved.approved_by) == ("approved", "bob")
    assert "retail_card@4" not in served_contracts(log_db)  # approved is not yet published
    published = contracts.publish(log_db, "retail_card", 4, BOB)
    assert published.status == "published" and "retail_card@4" in served_contracts(log_db)
    assert policies.approve(log_db, "retail_card", submitted.version, BOB).status == "approved"
    assert actions(log_db, "contract:retail_card@4") == [
        "contract.create", "contract.submit", "contract.approve_refused", "contract.approve_refused",
        "contract.approve_refused", "contract.approve", "contract.publish"]


def test_a_contract_draft_never_changes_what_a_worker_serves(log_db):
    before = (policies.token(log_db), served_contracts(log_db))
    contracts.create(log_db, "retail_card", with_autopay(), ALICE)
    contracts.submit(log_db, "retail_card", 4, ALICE)
    contracts.reject(log_db, "retail_card", 4, BOB, "say what autopay means for a missed payment")
    assert (policies.token(log_db), served_contracts(log_db)) == before
    rejected = contracts.get_contract(log_db, "retail_card", 4)
    assert (rejected.status, rejected.rejected_by) == ("rejected", "bob")
    # A rejected contract cannot be used even by a ruleset draft
    policy, tests = ruleset_on(4)
    with pytest.raises(RulesetInvalid, match="retail_card@4 is rejected"):
        policies.create_draft(log_db, "retail_card", policy, tests, ALICE)


def test_lifecycle_steps_go_in_order_only(log_db):
    contracts.create(log_db, "retail_card", with_autopay(), ALICE)
    for step in (contracts.approve, contracts.publish):
        with pytest.raises(WrongStatus, match="is draft"):
            step(log_db, "retail_card", 4, BOB)
    with pytest.raises(WrongStatus, match="is published"):
        contracts.submit(log_db, "retail_card", 1, ALICE)
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("UPDATE contract_versions SET status = 'published' WHERE contract_id = 'retail_card' "
                       "AND version = 4")
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("UPDATE contract_versions SET document = '{}' WHERE version = 1")
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("DELETE FROM contract_versions WHERE version = 4")


def test_a_contract_in_use_cannot_be_retired(log_db):
    in_use = {(v.contract_id, v.contract_version) for v in policies.list_versions(log_db, statuses=("published",))}
    assert ("retail_card", 3) in in_use
    with pytest.raises(WrongStatus, match="retail_card@1"):
        contracts.retire(log_db, "retail_card", 3, BOB)
    token = policies.token(log_db)
    retired = contracts.retire(log_db, "retail_card", 1, BOB)  # no served ruleset reads version 1
    assert retired.status == "retired" and policies.token(log_db) != token
    assert "retail_card@1" not in served_contracts(log_db)
    assert actions(log_db, "contract:retail_card@1")[-1] == "contract.retire"


def test_a_contract_is_checked_again_at_approval(log_db):
    contracts.create(log_db, "retail_card", with_autopay(), ALICE)
    contracts.submit(log_db, "retail_card", 4, ALICE)
    # stored before a stricter check existed: a bound written as text
    log_db.execute("DROP TRIGGER contract_versions_frozen")
    bad = with_autopay()
    bad["version"] = 4
    bad["fields"]["card"]["fields"]["dpd"]["max"] = "1e300000"
    log_db.execute("UPDATE contract_versions SET document = ? WHERE contract_id = 'retail_card' AND version = 4",
                   [policies.codec.dumps(bad)])
    with pytest.raises(ApprovalRefused) as exc:
        contracts.approve(log_db, "retail_card", 4, BOB)
    assert exc.value.details[0]["path"] == "card.dpd"
    assert contracts.get_contract(log_db, "retail_card", 4).status == "submitted"


def test_a_later_import_submits_new_contract_versions(log_db, tmp_path):
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for path in (ROOT / "schemas").glob("*.yaml"):
        (schemas / path.name).write_text(path.read_text())
    document = with_autopay()
    document["version"] = 4
    (schemas / "retail_card.v4.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    report = policies.import_files(log_db, ROOT / "rulesets", schemas, ALICE)
    assert report.lines == [("contract retail_card@4 imported from schemas/retail_card.v4.yaml as submitted: "
                             "approve and publish it to serve it")]
    stored = contracts.get_contract(log_db, "retail_card", 4)
    assert (stored.status, stored.submitted_by) == ("submitted", "alice")
    assert "retail_card@4" not in served_contracts(log_db)


def test_the_first_import_publishes_the_shipped_contracts(tmp_path):
    path = str(tmp_path / "fresh.db")
    store.migrate(store.create(path))
    db = store.connect(path)
    policies.import_files(db, ROOT / "rulesets", ROOT / "schemas")
    stored = contracts.list_contracts(db)
    assert len(stored) == 9 and {(c.status, c.published_by) for c in stored} == {("published", "system")}
    db.close()


def test_contract_versions_stored_before_the_lifecycle_count_as_published(tmp_path):
    from migrations import MIGRATIONS

    path = str(tmp_path / "old.db")
    db = store.create(path)
    MIGRATIONS.apply(db, stop_before="m014_contract_lifecycle")
    document = yaml.safe_load((ROOT / "schemas" / "retail_card.v2.yaml").read_text())
    db.execute("INSERT INTO contract_versions (contract_id, version, hash, document, created_by, created_at) "
               "VALUES ('retail_card', 2, 'sha256:x', ?, 'system', '2026-01-01T00:00:00Z')",
               [policies.codec.dumps(document)])
    db.conn.commit()
    store.migrate(db)
    [stored] = contracts.list_contracts(db)
    assert stored.status == "published"
    assert [c.key for c in policies.library_of_contracts(db).contracts()] == ["retail_card@2"]
    db.close()


def test_a_replay_still_reads_a_contract_retired_after_its_rulesets(log_db):
    from app.service import replay

    contracts.create(log_db, "retail_card", with_autopay(), ALICE)
    contracts.submit(log_db, "retail_card", 4, ALICE)
    contracts.approve(log_db, "retail_card", 4, BOB)
    contracts.publish(log_db, "retail_card", 4, BOB)
    policy, tests = ruleset_on(4)
    version = policies.create_draft(log_db, "retail_card", policy, tests, ALICE).version
    policies.submit(log_db, "retail_card", version, ALICE)
    policies.approve(log_db, "retail_card", version, BOB)  # pinnable: a decision may have used it
    policies.retire(log_db, "retail_card", version, BOB)
    assert contracts.retire(log_db, "retail_card", 4, BOB).status == "retired"
    with pytest.raises(RulesetInvalid, match="retail_card@4 is retired"):
        policies.compile_document(log_db, policies.get_version(log_db, "retail_card", version).document, "x")
    stored = replay.stored_version(log_db, "retail_card", version)
    assert stored.problem is None and stored.ruleset.contract.key == "retail_card@4"
