"""Ruleset and contract versions, their lifecycle, publications, the import of the
shipped files and the snapshot a worker serves (no Flask)."""

import datetime as dt
import json
import sqlite3

import pytest
import yaml

from app.engine import RulesetInvalid, RulesetNotFound
from app.service import policies
from app.service import served as serving
from app.store import audit, publications, times
from app.store.audit import Actor
from app.store.errors import ApprovalRefused, FourEyes, InvalidRequest, PolicyNotFound, WrongStatus
from tests.conftest import ROOT
from tests.policies import RETAIL, RETAIL_SCENARIOS, act010_cut, misspelt

ALICE = Actor("alice", "k-alice")
ALICE_OTHER_KEY = Actor("alice", "k-alice-2")
BOB = Actor("bob", "k-bob")
CAROL = Actor("carol", "k-carol")


def events(db, target=None):
    return audit.list_events(db, target=target, limit=1000).events


def submitted(db, percent=35) -> policies.RulesetVersion:
    policy, tests = act010_cut(percent)
    draft = policies.create_draft(db, "retail_card", policy, tests, ALICE)
    return policies.submit(db, "retail_card", draft.version, ALICE)


def approved(db, percent=35) -> policies.RulesetVersion:
    return policies.approve(db, "retail_card", submitted(db, percent).version, BOB)


# ---------------------------------------------------------------- drafts


def test_invalid_draft_is_refused_with_the_rule_and_field_and_nothing_is_stored(log_db):
    before = (policies.list_versions(log_db), events(log_db))
    with pytest.raises(RulesetInvalid) as exc:
        policies.create_draft(log_db, "retail_card", misspelt(RETAIL), None, ALICE)
    [problem] = exc.value.details
    assert problem["rule"] == "ACT-010" and problem["path"] == "card.utilisation"
    assert "did you mean card.utilization" in problem["message"]
    assert (policies.list_versions(log_db), events(log_db)) == before


def test_the_server_numbers_versions_and_the_hash_is_the_engines(log_db):
    policy, tests = act010_cut(35)
    draft = policies.create_draft(log_db, "retail_card", policy, tests, ALICE)
    assert draft.version == 2 and draft.status == "draft"
    assert draft.document["version"] == 2  # the file said 1
    compiled = policies.compile_document(log_db, draft.document, "check")
    assert draft.hash == compiled.hash and compiled.version == 2
    assert draft.contributors == ("alice",) and draft.created_by == "alice"
    [event] = events(log_db, draft.target)
    assert (event.action, event.actor, event.key_id) == ("version.create", "alice", "k-alice")
    assert (event.hash_before, event.hash_after) == (None, draft.hash)


def test_key_order_is_kept_because_levels_are_lowest_first(log_db):
    draft = policies.create_draft(log_db, "retail_card", RETAIL, None, ALICE)
    assert list(draft.document["levels"]) == ["green", "yellow", "orange", "red"]
    stored = log_db.execute("SELECT document FROM ruleset_versions WHERE version = 2").fetchone()[0]
    assert stored.index('"green"') < stored.index('"yellow"') < stored.index('"orange"')


def test_document_id_must_match_and_may_be_left_out(log_db):
    with pytest.raises(RulesetInvalid) as exc:
        policies.create_draft(log_db, "other_card", RETAIL, None, ALICE)
    assert exc.value.details[0]["path"] == "id"
    doc = yaml.safe_load(RETAIL)
    del doc["id"]
    assert policies.create_draft(log_db, "retail_card", doc, None, ALICE).document["id"] == "retail_card"


def test_yaml_text_errors_name_the_line(log_db):
    with pytest.raises(RulesetInvalid) as exc:
        policies.create_draft(log_db, "retail_card", "id: retail_card\nrules: [\n", None, ALICE)
    assert exc.value.details[0]["line"] >= 2


def test_scenarios_for_another_ruleset_are_refused(log_db):
    with pytest.raises(RulesetInvalid) as exc:
        policies.create_draft(log_db, "retail_card", RETAIL, {"ruleset": "sme_loan", "scenarios": []}, ALICE)
    assert exc.value.details[0]["path"] == "ruleset"


def test_edit_replaces_a_draft_and_records_both_hashes(log_db):
    draft = policies.create_draft(log_db, "retail_card", *act010_cut(35), ALICE)
    edited = policies.edit_draft(log_db, "retail_card", draft.version, act010_cut(40)[0], CAROL,
                                 scenarios=act010_cut(40)[1])
    assert edited.hash != draft.hash and edited.version == draft.version
    assert edited.contributors == ("alice", "carol") and edited.updated_by == "carol"
    event = events(log_db, draft.target)[-1]
    assert (event.action, event.hash_before, event.hash_after) == ("version.edit", draft.hash, edited.hash)
    kept = policies.edit_draft(log_db, "retail_card", draft.version, act010_cut(45)[0], ALICE)
    assert kept.scenarios == edited.scenarios
    removed = policies.edit_draft(log_db, "retail_card", draft.version, act010_cut(45)[0], ALICE, scenarios=None)
    assert removed.scenarios is None


def test_only_a_draft_can_be_edited_even_in_sql(log_db):
    version = submitted(log_db)
    with pytest.raises(WrongStatus):
        policies.edit_draft(log_db, "retail_card", version.version, RETAIL, ALICE)
    with pytest.raises(sqlite3.IntegrityError, match="only a draft can be edited"):
        log_db.execute("UPDATE ruleset_versions SET hash = 'x' WHERE version = ?", [version.version])
    with pytest.raises(sqlite3.IntegrityError, match="not a lifecycle step"):
        log_db.execute("UPDATE ruleset_versions SET status = 'draft' WHERE version = ?", [version.version])
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("DELETE FROM ruleset_versions")


# ---------------------------------------------------------------- review and approval


def test_submit_freezes_and_keeps_findings_and_scenario_results(log_db):
    version = submitted(log_db)
    assert version.status == "submitted" and version.submitted_by == "alice"
    assert version.findings == []
    results = version.scenario_results
    assert results["failed"] == 0 and results["passed"] == RETAIL_SCENARIOS.count("- name:")
    event = events(log_db, version.target)[-1]
    assert event.action == "version.submit" and event.details["scenarios_failed"] == 0


def test_submit_reports_static_findings(log_db):
    doc = yaml.safe_load(RETAIL)
    never = dict(doc["rules"][0], id="ZZZ-001", when="card.dpd > 10 and card.dpd < 5")
    doc["rules"].append(never)
    draft = policies.create_draft(log_db, "retail_card", doc, None, ALICE)
    version = policies.submit(log_db, "retail_card", draft.version, ALICE)
    checks = {(f["check"], f.get("rule")) for f in version.findings}
    assert ("never_fires", "ZZZ-001") in checks


def test_four_eyes_by_person_not_by_key(log_db):
    version = submitted(log_db)
    with pytest.raises(FourEyes):
        policies.approve(log_db, "retail_card", version.version, ALICE_OTHER_KEY)
    assert policies.get_version(log_db, "retail_card", version.version).status == "submitted"
    # The attempt is on the record, with who tried.
    event = events(log_db, version.target)[-1]
    assert (event.action, event.actor, event.key_id, event.details["reason"]) == \
        ("version.approve_refused", "alice", "k-alice-2", "four_eyes")


def test_whoever_edited_may_not_approve(log_db):
    draft = policies.create_draft(log_db, "retail_card", *act010_cut(35), ALICE)
    policies.edit_draft(log_db, "retail_card", draft.version, act010_cut(35)[0], CAROL)
    policies.submit(log_db, "retail_card", draft.version, ALICE)
    with pytest.raises(FourEyes):
        policies.approve(log_db, "retail_card", draft.version, CAROL)
    assert policies.approve(log_db, "retail_card", draft.version, BOB).status == "approved"


def test_a_failing_scenario_blocks_approval(log_db):
    policy, _ = act010_cut(35)  # the scenario still expects 30%
    draft = policies.create_draft(log_db, "retail_card", policy, RETAIL_SCENARIOS, ALICE)
    version = policies.submit(log_db, "retail_card", draft.version, ALICE)
    assert version.scenario_results["failed"] == 1
    with pytest.raises(ApprovalRefused) as exc:
        policies.approve(log_db, "retail_card", version.version, BOB)
    assert exc.value.reason == "approval_refused"
    [detail] = exc.value.details
    assert detail["path"].startswith("scenarios.DOMAIN example") and "percent" in detail["message"]
    assert policies.get_version(log_db, "retail_card", version.version).status == "submitted"
    assert events(log_db, version.target)[-1].details["reason"] == "approval_refused"


def test_approval_changes_what_is_served(log_db):
    token = policies.token(log_db)
    version = approved(log_db)
    assert version.approved_by == "bob" and policies.token(log_db) != token
    event = events(log_db, version.target)[-1]
    assert (event.action, event.actor, event.hash_before, event.hash_after) == \
        ("version.approve", "bob", version.hash, version.hash)


def test_reject_is_final(log_db):
    version = submitted(log_db)
    rejected = policies.reject(log_db, "retail_card", version.version, BOB, "cut too deep")
    assert rejected.status == "rejected" and rejected.rejection_reason == "cut too deep"
    for step in (policies.approve, policies.submit):
        with pytest.raises(WrongStatus):
            step(log_db, "retail_card", version.version, BOB)
    assert events(log_db, version.target)[-1].details == {"reason": "cut too deep"}


def test_unknown_version(log_db):
    with pytest.raises(PolicyNotFound):
        policies.get_version(log_db, "retail_card", 99)


# ---------------------------------------------------------------- publications


def test_publish_now_and_in_effect(log_db):
    version = approved(log_db)
    publication = publications.publish(log_db, "retail_card", version.version, BOB)
    assert publication.kind == "publish"
    history = publications.list_publications(log_db, "retail_card")
    assert publications.in_effect(history, times.now()).version == version.version
    assert policies.get_version(log_db, "retail_card", version.version).status == "published"
    event = events(log_db, version.target)[-1]
    assert event.action == "ruleset.publish" and event.details["replaces_version"] == 1
    v1 = policies.get_version(log_db, "retail_card", 1)
    assert (event.hash_before, event.hash_after) == (v1.hash, version.hash)
    with pytest.raises(WrongStatus, match="already in effect"):
        publications.publish(log_db, "retail_card", version.version, BOB)


def test_only_an_approved_version_can_be_published(log_db):
    version = submitted(log_db)
    with pytest.raises(WrongStatus):
        publications.publish(log_db, "retail_card", version.version, BOB)


def test_scheduled_version_takes_effect_at_its_time(log_db):
    version = approved(log_db)
    at = times.now() + dt.timedelta(hours=1)
    publication = publications.publish(log_db, "retail_card", version.version, BOB, at)
    assert publication.kind == "schedule" and publication.effective_at == times.iso(at)
    history = publications.list_publications(log_db, "retail_card")
    assert publications.in_effect(history, at - dt.timedelta(microseconds=1)).version == 1
    assert publications.in_effect(history, at).version == version.version
    assert events(log_db, version.target)[-1].action == "ruleset.schedule"
    with pytest.raises(InvalidRequest):
        publications.publish(log_db, "retail_card", version.version, BOB, times.now() - dt.timedelta(seconds=1))


def test_ties_go_to_the_later_publication():
    p = [publications.Publication(1, "r", 1, "h1", "publish", "2026-01-01T00:00:00.000000Z", "a", "x"),
         publications.Publication(2, "r", 2, "h2", "schedule", "2026-01-02T00:00:00.000000Z", "a", "x"),
         publications.Publication(3, "r", 3, "h3", "schedule", "2026-01-02T00:00:00.000000Z", "a", "x")]
    assert publications.in_effect(p, "2026-01-01T23:59:59.999999Z").version == 1
    assert publications.in_effect(p, "2026-01-02T00:00:00.000000Z").version == 3
    assert publications.in_effect(p, "2025-12-31T00:00:00.000000Z") is None


def test_rollback_restores_the_version_before(log_db):
    version = approved(log_db)
    publications.publish(log_db, "retail_card", version.version, BOB)
    back = publications.rollback(log_db, "retail_card", CAROL)
    assert (back.kind, back.version) == ("rollback", 1)
    history = publications.list_publications(log_db, "retail_card")
    assert publications.in_effect(history, times.now()).version == 1
    event = events(log_db, "ruleset:retail_card@1")[-1]
    assert (event.action, event.actor, event.hash_before, event.hash_after) == \
        ("ruleset.rollback", "carol", version.hash, policies.get_version(log_db, "retail_card", 1).hash)
    # Rolling back again goes forward to the version rolled back from.
    assert publications.rollback(log_db, "retail_card", CAROL).version == version.version
    with pytest.raises(InvalidRequest):
        publications.rollback(log_db, "retail_card", CAROL, to_version=version.version)


def test_rollback_needs_an_earlier_published_version(log_db):
    with pytest.raises(InvalidRequest):
        publications.rollback(log_db, "retail_card", BOB)
    version = approved(log_db)
    with pytest.raises(WrongStatus):
        publications.rollback(log_db, "retail_card", BOB, to_version=version.version)


def test_publications_are_append_only(log_db):
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("UPDATE publications SET version = 9")
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("DELETE FROM publications")


def test_retire(log_db):
    with pytest.raises(WrongStatus, match="in effect"):
        policies.retire(log_db, "retail_card", 1, BOB)
    version = approved(log_db)
    publications.publish(log_db, "retail_card", version.version, BOB, times.now() + dt.timedelta(hours=1))
    with pytest.raises(WrongStatus, match="scheduled"):
        policies.retire(log_db, "retail_card", version.version, BOB)
    other = approved(log_db, percent=40)
    retired = policies.retire(log_db, "retail_card", other.version, BOB)
    assert retired.status == "retired" and retired.retired_by == "bob"
    with pytest.raises(WrongStatus):
        publications.publish(log_db, "retail_card", other.version, BOB)


# ---------------------------------------------------------------- contracts


def test_contract_versions_are_numbered_and_immutable(log_db):
    from app.service import contracts

    doc = yaml.safe_load((ROOT / "schemas" / "retail_card.v1.yaml").read_text())
    stored = contracts.create(log_db, "retail_card", doc, ALICE)
    assert stored.version == 4 and stored.document["version"] == 4 and stored.status == "draft"
    assert events(log_db, stored.target)[0].action == "contract.create"
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("UPDATE contract_versions SET hash = 'x'")
    doc["fields"] = "nonsense"
    with pytest.raises(RulesetInvalid):
        contracts.create(log_db, "retail_card", doc, ALICE)


# ---------------------------------------------------------------- import


def test_first_import_publishes_the_shipped_files(empty_db):
    report = policies.import_files(empty_db, ROOT / "rulesets", ROOT / "schemas")
    assert report.bootstrap
    versions = policies.list_versions(empty_db)
    assert {(v.ruleset_id, v.version, v.status, v.created_by) for v in versions} == {
        ("personal_loan", 1, "published", "system"), ("retail_card", 1, "published", "system"),
        ("sme_loan", 1, "published", "system")}
    assert all(v.scenarios for v in versions)
    actions = [e.action for e in events(empty_db)]
    # schemas/ holds versions 1, 2 (plausible ranges) and 3 (manager and branch) of each contract
    assert actions.count("contract.create") == 9 and actions.count("ruleset.publish") == 3
    assert {e.actor for e in events(empty_db)} == {"system"}
    assert policies.import_files(empty_db, ROOT / "rulesets", ROOT / "schemas").lines == []


def test_later_import_adds_new_content_as_submitted(log_db, tmp_path):
    rulesets = tmp_path / "rulesets"
    rulesets.mkdir()
    policy, tests = act010_cut(35)
    (rulesets / "retail_card.yaml").write_text(policy)
    (rulesets / "retail_card.scenarios.yaml").write_text(tests)
    (rulesets / "sme_loan.yaml").write_text((ROOT / "rulesets" / "sme_loan.yaml").read_text())
    report = policies.import_files(log_db, rulesets, ROOT / "schemas", Actor("ops"))
    assert not report.bootstrap and len(report.lines) == 1
    version = policies.get_version(log_db, "retail_card", 2)
    assert (version.status, version.created_by, version.scenario_results["failed"]) == ("submitted", "ops", 0)
    with pytest.raises(FourEyes):
        policies.approve(log_db, "retail_card", 2, Actor("ops"))


def test_imported_and_uploaded_yaml_keeps_its_comments_with_the_stored_version(empty_db):
    policies.import_files(empty_db, ROOT / "rulesets", ROOT / "schemas")
    shipped = policies.get_version(empty_db, "retail_card", 1)
    assert shipped.document_text == (ROOT / "rulesets" / "retail_card.yaml").read_text()
    assert shipped.scenarios_text == (ROOT / "rulesets" / "retail_card.scenarios.yaml").read_text()
    assert "# ---------------------------------------------------------------- 4: signals" in shipped.document_text
    # A draft started from it keeps the text; only its version line says its own number.
    draft = policies.create_draft(empty_db, "retail_card", shipped.document_text, shipped.scenarios_text, ALICE)
    assert draft.document_text == shipped.document_text.replace("\nversion: 1\n", "\nversion: 2\n", 1)
    assert yaml.safe_load(draft.document_text) == draft.document and draft.document["version"] == 2
    assert draft.document == {**shipped.document, "version": 2}
    # An edit's text is kept as sent; the scenarios kept with it keep theirs.
    edited_text = draft.document_text.replace("# ---", "# (edited) ---", 1)
    edited = policies.edit_draft(empty_db, "retail_card", 2, edited_text, ALICE)
    assert edited.document_text == edited_text and edited.scenarios_text == shipped.scenarios_text
    assert edited.hash == draft.hash  # a comment is not content
    # Sent as data, or as text that cannot be kept as the stored document: shown as stored.
    as_data = policies.edit_draft(empty_db, "retail_card", 2, yaml.safe_load(edited_text), ALICE)
    assert as_data.document_text is None and as_data.as_written[0] == as_data.document
    flow = json.dumps({k: v for k, v in as_data.document.items() if k != "version"})  # YAML's flow style
    assert policies.kept_text(flow, as_data.document, "flow") is None
    assert policies.kept_text("id: retail_card\nversion: 9\n", {"id": "retail_card", "version": 2}, "t") == \
        "id: retail_card\nversion: 2\n"
    assert policies.kept_text("title: t\nid: x  # the id\n", {"title": "t", "id": "x", "version": 3}, "t") == \
        "title: t\nid: x  # the id\nversion: 3\n"


def test_import_with_any_problem_imports_nothing(empty_db, tmp_path):
    rulesets = tmp_path / "rulesets"
    rulesets.mkdir()
    (rulesets / "retail_card.yaml").write_text(RETAIL)
    (rulesets / "broken.yaml").write_text("id: broken\nversion: 1\ncontract: nope@1\nrules: []\n")
    with pytest.raises(RulesetInvalid) as exc:
        policies.import_files(empty_db, rulesets, ROOT / "schemas")
    assert any("nope@1" in p["message"] for p in exc.value.details)
    assert policies.list_contracts(empty_db) == [] and policies.count_versions(empty_db) == 0


# ---------------------------------------------------------------- what a worker serves


def test_snapshot_serves_the_version_in_effect_and_pins_approved_ones(log_db):
    version = approved(log_db)
    snapshot = serving.load(log_db, warm=False)
    assert snapshot.ruleset("retail_card").version == 1
    assert snapshot.ruleset("retail_card", version.version).hash == version.hash  # approved: pinnable
    assert snapshot.status("retail_card", version.version) == "approved"
    at = times.now() + dt.timedelta(hours=1)
    publications.publish(log_db, "retail_card", version.version, BOB, at)
    snapshot = serving.load(log_db, snapshot, warm=False)
    assert snapshot.ruleset("retail_card").version == 1
    assert snapshot.ruleset("retail_card", at=at).version == version.version
    draft = policies.create_draft(log_db, "retail_card", RETAIL, None, ALICE)
    with pytest.raises(RulesetNotFound):
        serving.load(log_db, snapshot, warm=False).ruleset("retail_card", draft.version)
    with pytest.raises(RulesetNotFound, match="no ruleset 'nope' is loaded"):
        snapshot.ruleset("nope")


def test_snapshot_reuses_what_did_not_change(log_db):
    first = serving.load(log_db, warm=False)
    approved(log_db)
    second = serving.load(log_db, first, warm=False)
    assert second is not first and second.token != first.token
    assert second.ruleset("sme_loan") is first.ruleset("sme_loan")
    assert second.ruleset("retail_card", 1) is first.ruleset("retail_card", 1)


def test_nothing_is_in_effect_before_the_first_publication(log_db):
    doc = yaml.safe_load(RETAIL)
    doc["id"] = "retail_card_b"
    draft = policies.create_draft(log_db, "retail_card_b", doc, None, ALICE)
    policies.submit(log_db, "retail_card_b", draft.version, ALICE)
    policies.approve(log_db, "retail_card_b", draft.version, BOB)
    snapshot = serving.load(log_db, warm=False)
    with pytest.raises(RulesetNotFound, match="no version of ruleset 'retail_card_b' is in effect"):
        snapshot.ruleset("retail_card_b")
    assert snapshot.ruleset("retail_card_b", 1).id == "retail_card_b"


def test_a_stored_version_that_does_not_compile_is_left_out_and_named(log_db):
    row = dict(zip([d[0] for d in log_db.execute("SELECT * FROM ruleset_versions LIMIT 0").description],
                   log_db.execute("SELECT * FROM ruleset_versions WHERE ruleset_id = 'sme_loan'").fetchone()))
    row.update(version=2, status="approved", document=row["document"].replace('"when":"', '"when":"nope.x and '))
    log_db.execute(f"INSERT INTO ruleset_versions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                   list(row.values()))
    loaded = serving.load(log_db, warm=False)
    assert list(loaded.failures) == ["ruleset:sme_loan@2"]
    assert any("nope" in p["message"] for p in loaded.failures["ruleset:sme_loan@2"])
    assert loaded.ruleset("sme_loan").version == 1  # the version in effect is served
    assert {r.id for r in loaded.rulesets()} == {"personal_loan", "retail_card", "sme_loan"}
    with pytest.raises(serving.VersionUnavailable) as refused:
        loaded.ruleset("sme_loan", 2)
    assert "Version 2 of ruleset sme_loan could not be loaded" in refused.value.message