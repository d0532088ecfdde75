"""Fact contract versions over HTTP: strict checking (422 naming the contract, the field
path and what is wrong, nothing stored), and the four-eyes lifecycle with the roles of
the ruleset lifecycle."""

import copy
import json
import re
import time

import yaml

from tests.api.test_errors import assert_envelope
from tests.conftest import ROOT, decision_request
from tests.policies import act010_cut, draft_body

CONTRACT = yaml.safe_load((ROOT / "schemas" / "retail_card.v3.yaml").read_text())


def with_autopay() -> dict:
    document = copy.deepcopy(CONTRACT)
    document["fields"]["card"]["fields"]["autopay"] = {"type": "boolean", "description": "Pays by direct debit."}
    return document


def stored_versions(as_role) -> list[tuple[int, str]]:
    listed = as_role("audit").get("/v1/schemas/retail_card/versions").get_json()["versions"]
    return [(v["version"], v["status"]) for v in listed]


def test_the_contract_bomb_is_refused_fast_and_nothing_is_stored(as_role):
    bomb = copy.deepcopy(CONTRACT)
    bomb["fields"]["bomb"] = {"type": "object", "fields": {
        f"f{n}": {"type": "decimal", "min": "-1e300000", "max": "1e300000"} for n in range(1500)}}
    before = stored_versions(as_role)
    started = time.perf_counter()
    response = as_role("author").post("/v1/schemas/retail_card/versions", json={"document": bomb})
    took = time.perf_counter() - started
    body = assert_envelope(response, 422, "ruleset_invalid")
    assert len(body["error"]["details"]) == 1500
    assert body["error"]["details"][0] == {"file": "contract retail_card", "path": "bomb.f0",
                                           "message": "min must be a number, not text"}
    assert took < 3.0
    assert stored_versions(as_role) == before


def test_a_bound_as_a_huge_json_number_is_refused_before_any_arithmetic(as_role):
    text = json.dumps({"document": CONTRACT}).replace('"max": 3650', '"max": 1e300000', 1)
    response = as_role("author").post("/v1/schemas/retail_card/versions", data=text, content_type="application/json")
    body = assert_envelope(response, 422, "validation_error")
    assert body["error"]["details"][0]["path"].endswith(".max")


def test_yaml_text_bounds_and_ids_are_checked_alike(as_role):
    text = (ROOT / "schemas" / "retail_card.v3.yaml").read_text().replace("max: 3650", "max: 1e300000", 1)
    body = assert_envelope(as_role("author").post("/v1/schemas/retail_card/versions", json={"document": text}),
                           422, "ruleset_invalid")
    assert body["error"]["details"][0]["path"].startswith("card.") and "not text" in body["error"]["details"][0][
        "message"]
    newline = copy.deepcopy(CONTRACT)
    newline["id"] = "retail_card\n"
    body = assert_envelope(as_role("author").post("/v1/schemas/retail_card/versions", json={"document": newline}),
                           422, "ruleset_invalid")
    assert body["error"]["details"][0]["path"] == "id"
    assert stored_versions(as_role) == [(1, "published"), (2, "published"), (3, "published")]


def test_the_contract_lifecycle_under_four_eyes(as_role, client):
    author, approver = as_role("author"), as_role("approve")
    own_approve_key = client.post("/v1/keys", json={"name": "alice-approves", "owner": "Alice.Author",
                                                    "roles": ["approve"]}).get_json()["key"]
    alice_approves = as_role("approve")
    alice_approves.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {own_approve_key}"

    created = author.post("/v1/schemas/retail_card/versions", json={"document": with_autopay()})
    assert created.status_code == 201 and created.get_json()["status"] == "draft"
    # The roles are the ruleset lifecycle's: an approver does not submit, an author does not approve
    assert_envelope(approver.post("/v1/schemas/retail_card/versions/4/submit"), 403, "forbidden")
    assert_envelope(approver.post("/v1/schemas/retail_card/versions/4/approve"), 409, "invalid_status")
    assert author.post("/v1/schemas/retail_card/versions/4/submit").get_json()["status"] == "submitted"
    assert_envelope(author.post("/v1/schemas/retail_card/versions/4/approve"), 403, "forbidden")
    assert_envelope(alice_approves.post("/v1/schemas/retail_card/versions/4/approve"), 403, "four_eyes")

    # A ruleset draft naming it is checked against it, but cannot be approved yet
    policy, tests = act010_cut(35)
    policy = policy.replace("contract: retail_card@3", "contract: retail_card@4")
    draft = author.post("/v1/rulesets/retail_card/versions", data=draft_body(policy, tests),
                        content_type="application/json")
    assert draft.status_code == 201, draft.get_json()
    assert author.post("/v1/rulesets/retail_card/versions/2/submit").status_code == 200
    refused = assert_envelope(approver.post("/v1/rulesets/retail_card/versions/2/approve"), 422, "approval_refused")
    assert "retail_card@4, which is submitted" in refused["error"]["message"]
    # Not served: a snapshot with the new field is refused by what is served
    snapshot = decision_request()
    snapshot["snapshot"]["card"]["autopay"] = True
    assert_envelope(as_role("decide").post("/v1/decisions", json=snapshot), 422, "validation_error")

    approved = approver.post("/v1/schemas/retail_card/versions/4/approve").get_json()
    assert (approved["status"], approved["approved_by"]) == ("approved", "bob.approver")
    published = approver.post("/v1/schemas/retail_card/versions/4/publish").get_json()
    assert (published["status"], published["published_by"]) == ("published", "bob.approver")
    assert as_role("decide").get("/v1/schemas/retail_card").get_json()["versions"] == [1, 2, 3, 4]
    for step in ("approve", "publish"):
        assert approver.post(f"/v1/rulesets/retail_card/versions/2/{step}").status_code in (200, 201), step
    decided = as_role("decide").post("/v1/decisions", json=snapshot)
    assert decided.status_code == 201 and decided.get_json()["ruleset"]["version"] == 2

    # Retiring a contract a served ruleset reads is refused; every step is an audit event
    assert_envelope(approver.post("/v1/schemas/retail_card/versions/4/retire"), 409, "invalid_status")
    events = as_role("audit").get("/v1/audit-events?target=contract:retail_card@4").get_json()["events"]
    assert [(e["actor"], e["action"]) for e in events] == [
        ("alice.author", "contract.create"), ("alice.author", "contract.submit"),
        ("Alice.Author", "contract.approve_refused"), ("bob.approver", "contract.approve"),
        ("bob.approver", "contract.publish")]


def test_reject_and_retire_a_contract_draft(as_role):
    author, approver = as_role("author"), as_role("approve")
    for _ in range(2):
        assert author.post("/v1/schemas/retail_card/versions", json={"document": with_autopay()}).status_code == 201
    author.post("/v1/schemas/retail_card/versions/4/submit")
    assert_envelope(approver.post("/v1/schemas/retail_card/versions/4/reject", json={}), 422, "validation_error")
    rejected = approver.post("/v1/schemas/retail_card/versions/4/reject", json={"reason": "name the bank's field"})
    assert rejected.get_json()["status"] == "rejected"
    assert approver.post("/v1/schemas/retail_card/versions/5/retire").get_json()["status"] == "retired"
    detail = as_role("decide").get("/v1/schemas/retail_card/versions/4").get_json()
    assert detail["rejection_reason"] == "name the bank's field" and "autopay" in json.dumps(detail["document"])
    assert stored_versions(as_role) == [(1, "published"), (2, "published"), (3, "published"), (4, "rejected"), (5, "retired")]
    assert_envelope(as_role("decide").get("/v1/schemas/retail_card/versions/9"), 404, "version_not_found")
    assert_envelope(as_role("decide").get("/v1/schemas/nope/versions"), 404, "version_not_found")


def test_a_simulation_reads_only_published_contract_versions(as_role):
    author = as_role("author")
    draft = author.post("/v1/schemas/retail_card/versions", json={"document": with_autopay()}).get_json()
    key = f"retail_card@{draft['version']}"
    policy, tests = act010_cut(35)
    shipped = re.search(r"contract: (retail_card@\d+)", policy).group(1)
    assert shipped != key and contract_status(as_role, shipped) == "published"
    policy = policy.replace(f"contract: {shipped}", f"contract: {key}")
    assert author.post("/v1/rulesets/retail_card/versions", data=draft_body(policy, tests),
                       content_type="application/json").status_code == 201
    # the draft was checked against the draft contract; a simulation reads published ones only
    snapshot = decision_request()["snapshot"]
    snapshot["card"]["autopay"] = True
    body = assert_envelope(author.post("/v1/simulations", json={
        "ruleset_id": "retail_card", "candidate_version": 2, "snapshots": [snapshot]}), 422, "ruleset_invalid")
    assert f"{key} is draft" in json.dumps(body)


def contract_status(as_role, key: str) -> str:
    contract_id, _, version = key.partition("@")
    return as_role("audit").get(f"/v1/schemas/{contract_id}/versions/{version}").get_json()["status"]
