"""Governance through the HTTP API, in process: drafts, four eyes, publishing, schedules,
rollback, the diff, the audit trail, and how a worker picks up what another published."""

import datetime as dt
import json
import re

import yaml


from app import create_app
from app.api.schemas import AuditPageSchema, DiffSchema, VersionDetailSchema
from tests.api.test_errors import assert_envelope
from tests.conftest import KEY_OWNERS, ROOT, console_client, decision_request
from tests.policies import RETAIL, RETAIL_SCENARIOS, act010_cut, draft_body, misspelt


def upload(client, policy, tests=None, ruleset_id="retail_card"):
    return client.post(f"/v1/rulesets/{ruleset_id}/versions", data=draft_body(policy, tests),
                       content_type="application/json")


def decide(client, **fields):
    response = client.post("/v1/decisions", json=decision_request(**fields))
    assert response.status_code == 201, response.data
    return response.get_json()


def cut(decision) -> int:
    return next(a for a in decision["actions"] if a["action"] == "reduce_limit")["params"]["percent"]


def test_the_whole_lifecycle(as_role):
    author, approver, auditor, loans = (as_role(r) for r in ("author", "approve", "audit", "decide"))
    assert cut(decide(loans)) == 30

    refused = assert_envelope(upload(author, misspelt(act010_cut(35)[0]), act010_cut(35)[1]), 422, "ruleset_invalid")
    [problem] = refused["error"]["details"]
    assert problem["rule"] == "ACT-010" and problem["path"] == "card.utilisation"
    assert auditor.get("/v1/rulesets/retail_card/versions").get_json()["versions"][-1]["version"] == 1

    created = upload(author, *act010_cut(35))
    assert created.status_code == 201
    draft = created.get_json()
    assert VersionDetailSchema().validate(draft) == {}
    assert (draft["version"], draft["status"], draft["created_by"]) == (2, "draft", "alice.author")
    path = "/v1/rulesets/retail_card/versions/2"

    submitted = author.post(f"{path}/submit")
    assert submitted.status_code == 200, submitted.data
    assert submitted.get_json()["status"] == "submitted"
    assert submitted.get_json()["scenario_results"]["failed"] == 0 and submitted.get_json()["findings"] == []

    # The author holding an approve key too is still the author.
    both = as_role("admin")
    both.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + both.post(
        "/v1/keys", json={"name": "alice-2", "owner": "alice.author", "roles": ["approve"]}).get_json()["key"]
    assert_envelope(both.post(f"{path}/approve"), 403, "four_eyes")
    assert_envelope(author.post(f"{path}/approve"), 403, "forbidden")

    approved = approver.post(f"{path}/approve")
    assert approved.status_code == 200 and approved.get_json()["approved_by"] == "bob.approver"
    assert cut(decide(loans)) == 30  # approved is not published
    assert cut(decide(loans, ruleset_version=2)) == 35  # but can be pinned

    published = approver.post(f"{path}/publish")  # no body, no content type, as curl sends it
    assert published.status_code == 201, published.data
    assert published.get_json()["kind"] == "publish"
    decision = decide(loans)
    assert cut(decision) == 35 and decision["ruleset"] == {"id": "retail_card", "version": 2,
                                                           "hash": draft["hash"]}
    assert cut(decide(loans, ruleset_version=1)) == 30

    diff = auditor.get("/v1/rulesets/retail_card/diff?from=1&to=2").get_json()
    assert DiffSchema().validate(diff) == {}
    assert diff["added"] == diff["removed"] == [] and diff["other"] == {}
    [changed] = diff["changed"]
    assert changed["rule"] == "ACT-010"
    assert changed["changes"] == {"actions": {"before": [{"reduce_limit": {"percent": 30}}, "contact_customer"],
                                              "after": [{"reduce_limit": {"percent": 35}}, "contact_customer"]}}

    rolled = approver.post("/v1/rulesets/retail_card/rollback")
    assert rolled.status_code == 201 and rolled.get_json()["version"] == 1
    assert cut(decide(loans)) == 30

    page = auditor.get("/v1/audit-events?target=ruleset:retail_card@2").get_json()
    assert AuditPageSchema().validate(page) == {}
    steps = [(e["action"], e["actor"], e["hash_before"], e["hash_after"]) for e in page["events"]]
    v1_hash = auditor.get("/v1/rulesets/retail_card/versions/1").get_json()["hash"]
    assert steps == [
        ("version.create", "alice.author", None, draft["hash"]),
        ("version.submit", "alice.author", draft["hash"], draft["hash"]),
        ("version.approve_refused", "alice.author", draft["hash"], draft["hash"]),
        ("version.approve", "bob.approver", draft["hash"], draft["hash"]),
        ("ruleset.publish", "bob.approver", v1_hash, draft["hash"]),
    ]
    [back] = auditor.get("/v1/audit-events?action=ruleset.rollback").get_json()["events"]
    assert (back["target"], back["hash_before"], back["hash_after"]) == ("ruleset:retail_card@1", draft["hash"],
                                                                          v1_hash)
    assert all(e["key_id"] for e in page["events"])


def test_a_version_sent_as_yaml_text_is_read_back_as_written(app, api_keys, as_role):
    author = as_role("author")
    console = console_client(app, api_keys["author"])
    shipped = console.get("/console/rulesets/retail_card/versions/1").get_data(as_text=True)
    assert "# ---------------------------------------------------------------- 4: signals" in shipped
    policy, tests = act010_cut(35)
    commented = "# Cut agreed by the credit committee, 2026-10\n" + policy
    body = author.post("/v1/rulesets/retail_card/versions", json={"document": commented, "scenarios": tests}).get_json()
    assert body["document_text"].startswith("# Cut agreed by the credit committee")
    assert "\nversion: 2\n" in body["document_text"] and body["scenarios_text"] == tests
    assert yaml.safe_load(body["document_text"]) == body["document"]
    assert author.get("/v1/rulesets/retail_card/versions/2").get_json()["document_text"] == body["document_text"]
    as_data = author.put("/v1/rulesets/retail_card/versions/2", json={"document": body["document"]}).get_json()
    assert as_data["document_text"] is None and as_data["scenarios_text"] == tests
    assert "document_text" not in author.get("/v1/rulesets/retail_card/versions").get_json()["versions"][0]
    editor = console.get("/console/rulesets/retail_card/versions/2/edit").get_data(as_text=True)
    assert "Cut agreed by the credit committee" not in editor and "id: retail_card" in editor


def test_yaml_text_and_json_object_store_the_same_version(as_role):
    import yaml

    author = as_role("author")
    from_text = upload(author, RETAIL).get_json()
    as_object = author.post("/v1/rulesets/retail_card/versions", data=json.dumps({"document": yaml.safe_load(RETAIL)}),
                            content_type="application/json").get_json()
    assert from_text["document"] == {**as_object["document"], "version": 2}
    assert list(as_object["document"]["levels"]) == ["green", "yellow", "orange", "red"]


def test_a_failing_scenario_blocks_approval(as_role):
    author, approver = as_role("author"), as_role("approve")
    upload(author, act010_cut(35)[0], RETAIL_SCENARIOS)  # the scenario still expects 30%
    submitted = author.post("/v1/rulesets/retail_card/versions/2/submit").get_json()
    assert submitted["scenario_results"]["failed"] == 1
    body = assert_envelope(approver.post("/v1/rulesets/retail_card/versions/2/approve"), 422, "approval_refused")
    assert "percent" in body["error"]["details"][0]["message"]
    rejected = approver.post("/v1/rulesets/retail_card/versions/2/reject", json={"reason": "fix the scenario"})
    assert rejected.get_json()["status"] == "rejected"


def test_only_a_draft_can_be_edited(as_role):
    author = as_role("author")
    upload(author, *act010_cut(35))
    edited = author.put("/v1/rulesets/retail_card/versions/2", data=draft_body(act010_cut(40)[0]),
                        content_type="application/json")
    assert edited.status_code == 200 and edited.get_json()["scenarios"]  # kept
    author.post("/v1/rulesets/retail_card/versions/2/submit")
    assert_envelope(author.put("/v1/rulesets/retail_card/versions/2", data=draft_body(RETAIL),
                               content_type="application/json"), 409, "invalid_status")
    assert_envelope(author.post("/v1/rulesets/retail_card/versions/2/submit"), 409, "invalid_status")
    assert_envelope(author.post("/v1/rulesets/retail_card/versions/9/submit"), 404, "version_not_found")


def test_an_edit_based_on_an_old_revision_is_refused_and_saves_nothing(as_role):
    author = as_role("author")
    path = "/v1/rulesets/retail_card/versions/2"
    opened = upload(author, *act010_cut(35)).get_json()
    assert opened["revision"] == opened["created_at"]

    def edit(policy, **extra):
        return author.put(path, data=json.dumps({**json.loads(draft_body(policy)), **extra}),
                          content_type="application/json")

    first = edit(act010_cut(40)[0], based_on=opened["revision"])
    assert first.status_code == 200, first.data
    saved = first.get_json()
    assert saved["revision"] == saved["updated_at"] != opened["revision"]
    # A second editor who opened the draft before that save: refused, nothing stored.
    late = edit(act010_cut(45)[0], based_on=opened["revision"])
    body = assert_envelope(late, 409, "edit_conflict")
    assert saved["revision"] in body["error"]["message"]
    stored = author.get(path).get_json()
    assert (stored["hash"], stored["revision"]) == (saved["hash"], saved["revision"])
    edits = [e for e in as_role("audit").get("/v1/audit-events?limit=1000").get_json()["events"]
             if e["action"] == "version.edit"]
    assert len(edits) == 1
    # Written from the revision in effect, it is saved; left out, the edit is unchecked.
    assert edit(act010_cut(45)[0], based_on=saved["revision"]).status_code == 200
    assert edit(act010_cut(50)[0]).status_code == 200
    assert_envelope(edit(act010_cut(50)[0], based_on=""), 422, "validation_error")


def test_a_submission_carries_the_authors_note_for_the_approver(as_role):
    author = as_role("author")
    upload(author, *act010_cut(35))
    path = "/v1/rulesets/retail_card/versions/2"
    assert_envelope(author.post(f"{path}/submit", json={"note": "x" * 2001}), 422, "validation_error")
    assert_envelope(author.post(f"{path}/submit", json={"notes": "typo"}), 422, "validation_error")
    assert author.get(path).get_json()["status"] == "draft"  # refused: nothing changed
    note = "ACT-010 cuts 35% now, per the October credit committee"
    assert author.post(f"{path}/submit", json={"note": note}).get_json()["status"] == "submitted"
    submitted = [e for e in as_role("audit").get("/v1/audit-events?limit=1000").get_json()["events"]
                 if e["action"] == "version.submit"]
    assert [e["details"].get("note") for e in submitted] == [note]
    contract = (ROOT / "schemas" / "retail_card.v1.yaml").read_text()
    created = author.post("/v1/schemas/retail_card/versions", json={"document": contract}).get_json()
    contract_path = f"/v1/schemas/retail_card/versions/{created['version']}"
    assert author.post(f"{contract_path}/submit").get_json()["status"] == "submitted"  # no body: no note
    events = as_role("audit").get("/v1/audit-events?limit=1000&action=contract.submit").get_json()["events"]
    assert [e["details"] for e in events] == [{}]


def test_the_console_refuses_a_note_longer_than_the_api_takes(app, api_keys, as_role):
    upload(as_role("author"), *act010_cut(35))
    console = console_client(app, api_keys["author"])
    page = console.get("/console/rulesets/retail_card/versions/2").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = console.post("/console/rulesets/retail_card/versions/2/submit",
                           data={"csrf_token": token, "note": "x" * 2001})
    assert refused.status_code == 422 and "2000" in refused.get_data(as_text=True)
    assert as_role("author").get("/v1/rulesets/retail_card/versions/2").get_json()["status"] == "draft"
    done = console.post("/console/rulesets/retail_card/versions/2/submit",
                        data={"csrf_token": token, "note": "  cut per committee  "})
    assert done.status_code in (302, 303)
    [event] = [e for e in as_role("audit").get("/v1/audit-events?limit=1000").get_json()["events"]
               if e["action"] == "version.submit"]
    assert event["details"]["note"] == "cut per committee"


def test_request_shapes(as_role):
    author, approver = as_role("author"), as_role("approve")
    assert_envelope(author.post("/v1/rulesets/retail_card/versions", json={}), 422, "validation_error")
    assert_envelope(author.post("/v1/rulesets/retail_card/versions", json={"document": 5}), 422, "validation_error")
    assert_envelope(author.post("/v1/rulesets/retail_card/versions", data="document: x",
                                content_type="text/yaml"), 415, "unsupported_media_type")
    assert_envelope(approver.post("/v1/rulesets/retail_card/versions/1/publish",
                                  json={"effective_at": "2026-01-01T00:00:00"}), 422, "validation_error")
    assert_envelope(approver.post("/v1/rulesets/retail_card/versions/1/reject", json={}), 422, "validation_error")
    assert_envelope(as_role("audit").get("/v1/rulesets/retail_card/diff?from=1"), 422, "validation_error")
    assert_envelope(as_role("audit").get("/v1/audit-events?cursor=zzz"), 422, "validation_error")


def test_scheduled_publication(as_role, app):
    author, approver, loans = as_role("author"), as_role("approve"), as_role("decide")
    upload(author, *act010_cut(35))
    author.post("/v1/rulesets/retail_card/versions/2/submit")
    approver.post("/v1/rulesets/retail_card/versions/2/approve")
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat()
    assert_envelope(approver.post("/v1/rulesets/retail_card/versions/2/publish", json={"effective_at": past}),
                    422, "validation_error")
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    scheduled = approver.post("/v1/rulesets/retail_card/versions/2/publish", json={"effective_at": at.isoformat()})
    assert scheduled.status_code == 201 and scheduled.get_json()["kind"] == "schedule"
    assert cut(decide(loans)) == 30
    listing = loans.get("/v1/rulesets/retail_card/publications").get_json()
    assert [p["kind"] for p in listing["publications"]] == ["publish", "schedule"]
    assert listing["in_effect"]["version"] == 1
    # The worker's snapshot already holds it: at its time it is the one in effect.
    snapshot = app.extensions["vigil.library"]
    assert snapshot.ruleset("retail_card", at=at).version == 2
    assert snapshot.ruleset("retail_card", at=at - dt.timedelta(microseconds=1)).version == 1
    assert_envelope(approver.post("/v1/rulesets/retail_card/versions/2/retire"), 409, "invalid_status")


def test_pinning_needs_an_approved_version(as_role):
    upload(as_role("author"), RETAIL)
    response = as_role("decide").post("/v1/decisions", json=decision_request(ruleset_version=2))
    assert_envelope(response, 404, "ruleset_not_found")


def test_rulesets_list_says_what_is_in_effect(as_role):
    author, approver = as_role("author"), as_role("approve")
    upload(author, *act010_cut(35))
    author.post("/v1/rulesets/retail_card/versions/2/submit")
    approver.post("/v1/rulesets/retail_card/versions/2/approve")
    listed = {(r["id"], r["version"]): r for r in as_role("decide").get("/v1/rulesets").get_json()["rulesets"]}
    assert listed[("retail_card", 1)]["in_effect"] and listed[("retail_card", 1)]["status"] == "published"
    assert not listed[("retail_card", 2)]["in_effect"] and listed[("retail_card", 2)]["status"] == "approved"
    versions = as_role("audit").get("/v1/rulesets/retail_card/versions").get_json()["versions"]
    assert [(v["version"], v["in_effect"]) for v in versions] == [(1, True), (2, False)]
    assert_envelope(as_role("audit").get("/v1/rulesets/nope/versions"), 404, "version_not_found")


def test_contract_versions(as_role):
    from tests.conftest import ROOT

    text = (ROOT / "schemas" / "retail_card.v1.yaml").read_text()
    created = as_role("author").post("/v1/schemas/retail_card/versions", json={"document": text})
    assert created.status_code == 201 and created.get_json()["version"] == 4
    assert created.get_json()["status"] == "draft" and created.get_json()["document"]["version"] == 4
    # a draft is not served: only the published versions are listed for callers
    assert as_role("decide").get("/v1/schemas/retail_card").get_json()["versions"] == [1, 2, 3]
    listed = as_role("decide").get("/v1/schemas/retail_card/versions").get_json()["versions"]
    assert [(v["version"], v["status"]) for v in listed] == [(1, "published"), (2, "published"), (3, "published"),
                                                              (4, "draft")]
    assert as_role("author").post("/v1/schemas/retail_card/versions/4/submit").status_code == 200
    for step in ("approve", "publish"):
        assert as_role("approve").post(f"/v1/schemas/retail_card/versions/4/{step}").status_code == 200, step
    assert as_role("decide").get("/v1/schemas/retail_card").get_json()["versions"] == [1, 2, 3, 4]
    bad = as_role("author").post("/v1/schemas/retail_card/versions", json={"document": "fields: 3"})
    assert_envelope(bad, 422, "ruleset_invalid")


def test_audit_events_are_paged(as_role):
    auditor = as_role("audit")
    first = auditor.get("/v1/audit-events?limit=4").get_json()
    assert len(first["events"]) == 4 and first["next_cursor"]
    rest = auditor.get(f"/v1/audit-events?limit=1000&cursor={first['next_cursor']}").get_json()
    everything = auditor.get("/v1/audit-events?limit=1000").get_json()["events"]
    assert first["events"] + rest["events"] == everything and rest["next_cursor"] is None
    assert {e["actor"] for e in everything} >= {"system", "test setup"}


# ---------------------------------------------------------------- workers


def test_another_worker_serves_a_publication_on_its_next_check(db_path, api_keys, as_role):
    other = create_app({"VIGIL_DATABASE": db_path, "VIGIL_POLICY_CHECK_SECONDS": 5}).test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['decide']}"
    assert cut(decide(other)) == 30  # its first check happens here
    author, approver = as_role("author"), as_role("approve")
    upload(author, *act010_cut(35))
    author.post("/v1/rulesets/retail_card/versions/2/submit")
    approver.post("/v1/rulesets/retail_card/versions/2/approve")
    approver.post("/v1/rulesets/retail_card/versions/2/publish")
    assert cut(decide(other)) == 30  # not checked again yet: the interval is 5 s here
    other.application.extensions["vigil.policy_refresher"].next_check = 0
    assert cut(decide(other)) == 35


def test_policies_that_cannot_be_read_leave_the_old_ones_serving(app, as_role, monkeypatch):
    from app.service import served as serving
    from app.store.errors import LogUnavailable

    def broken(*args, **kwargs):
        raise LogUnavailable("The database is unavailable; the rulesets could not be loaded.")

    monkeypatch.setattr(serving, "load", broken)
    author, approver = as_role("author"), as_role("approve")
    upload(author, *act010_cut(35))
    author.post("/v1/rulesets/retail_card/versions/2/submit")
    approver.post("/v1/rulesets/retail_card/versions/2/approve")
    before = app.extensions["vigil.library"]
    assert cut(decide(as_role("decide"))) == 30
    assert app.extensions["vigil.library"] is before
    assert as_role("decide").get("/readyz").status_code == 200


def test_owners_of_the_test_keys():
    # The four-eyes tests rely on these being different people.
    assert len(set(KEY_OWNERS.values())) == len(KEY_OWNERS)


def open_drafts(as_role, path="/v1/rulesets/retail_card/versions") -> list[int]:
    return [v["version"] for v in as_role("audit").get(path).get_json()["versions"] if v["status"] == "draft"]


def test_a_ruleset_keeps_a_bounded_number_of_drafts_open(app, api_keys, as_role, monkeypatch):
    from app.store import policies as policy_store

    author = as_role("author")
    monkeypatch.setattr(policy_store, "MAX_OPEN_DRAFTS", len(open_drafts(as_role)) + 2)
    assert upload(author, *act010_cut(35)).status_code == 201
    assert upload(author, *act010_cut(36)).status_code == 201
    before = open_drafts(as_role)
    body = assert_envelope(upload(author, *act010_cut(37)), 409, "too_many_drafts")
    assert "retail_card" in body["error"]["message"] and "retire" in body["error"]["message"]
    assert open_drafts(as_role) == before
    # Through the console: the same refusal, on the ruleset's page.
    console = console_client(app, api_keys["author"])
    page = console.get("/console/rulesets/retail_card").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = console.post("/console/rulesets/retail_card/drafts", data={"csrf_token": token, "from_version": "1"})
    assert refused.status_code == 409 and "drafts open" in refused.get_data(as_text=True)
    assert open_drafts(as_role) == before
    # Retiring one frees a place.
    assert as_role("approve").post(f"/v1/rulesets/retail_card/versions/{before[-1]}/retire").status_code == 200
    assert upload(author, *act010_cut(37)).status_code == 201
    # The bound in all, whatever the ruleset.
    monkeypatch.setattr(policy_store, "MAX_OPEN_DRAFTS_IN_ALL", len(open_drafts(as_role)))
    body = assert_envelope(upload(author, *act010_cut(38), ruleset_id="retail_card_b"), 409, "too_many_drafts")
    assert "drafts are open" in body["error"]["message"]


def test_a_contract_keeps_a_bounded_number_of_drafts_open(as_role, monkeypatch):
    from app.store import policies as policy_store

    path = "/v1/schemas/retail_card/versions"
    document = yaml.safe_load((ROOT / "schemas" / "retail_card.v3.yaml").read_text())
    monkeypatch.setattr(policy_store, "MAX_OPEN_DRAFTS", len(open_drafts(as_role, path)) + 1)
    assert as_role("author").post(path, json={"document": document}).status_code == 201
    before = open_drafts(as_role, path)
    assert_envelope(as_role("author").post(path, json={"document": document}), 409, "too_many_drafts")
    assert open_drafts(as_role, path) == before


def test_the_readme_states_the_draft_bounds_the_store_keeps():
    from app.store import policies as policy_store

    readme = (ROOT / "README.md").read_text()
    assert (f"keeps at most {policy_store.MAX_OPEN_DRAFTS} drafts open at once, and there are at most\n"
            f"  {policy_store.MAX_OPEN_DRAFTS_IN_ALL} open drafts in all") in readme
    documented = (ROOT / "app" / "api" / "governance.py").read_text()
    said = re.findall(r"[Aa]t most (\d+) drafts[^()]*\((\d+) in all\)", documented)
    assert len(said) == 2
    assert set(said) == {(str(policy_store.MAX_OPEN_DRAFTS), str(policy_store.MAX_OPEN_DRAFTS_IN_ALL))}
