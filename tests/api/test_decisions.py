import json
import os

from app import store
from app.api.schemas import BatchResponseSchema, DecisionSchema
from app.store import decision_log
from tests.conftest import DELINQUENT_SNAPSHOT, clean_snapshot, decision_request


def rows(db_path: str) -> int:
    db = store.connect(db_path)
    try:
        return decision_log.count(db)
    finally:
        db.close()


def test_decision_has_actions_supporting_rules_and_trail(client):
    r = client.post("/v1/decisions", json=decision_request())
    assert r.status_code == 201
    body = r.get_json()
    assert DecisionSchema().validate(body) == {}
    assert body["ruleset"]["id"] == "retail_card"
    assert body["ruleset"]["hash"].startswith("sha256:")
    assert isinstance(body["ruleset"]["version"], int)
    actions = {a["action"]: a for a in body["actions"]}
    assert set(actions) == {"reduce_limit", "contact_customer"}
    assert actions["reduce_limit"]["params"] == {"percent": 30}
    assert actions["reduce_limit"]["rules"] == ["ACT-010"]
    assert body["level"] == "orange" and body["review_frequency"] == "monthly"
    assert set(body["fired"]) >= {"EXT-001", "ACT-010"}
    assert [step["rule"] for step in body["trail"]] == body["fired"]
    ext = next(step for step in body["trail"] if step["rule"] == "EXT-001")
    assert ext["values"] == {"credit_report.other_banks.overdue_accounts_6m": 2}
    assert body["timing"]["total_ms"] >= body["timing"]["evaluation_ms"] > 0
    assert body["explain"] == "summary" and "not_fired" not in body


def test_decision_is_logged_before_it_is_answered(client, db_path):
    r = client.post("/v1/decisions", json=decision_request(customer_id="C-7"))
    db = store.connect(db_path)
    logged = decision_log.get(db, r.get_json()["decision_id"])
    db.close()
    assert logged.response.encode() == r.data
    assert logged.customer_id == "C-7"
    assert logged.ruleset_hash == r.get_json()["ruleset"]["hash"]
    assert json.loads(logged.trail) == r.get_json()["trail"]
    assert json.loads(logged.result)["actions"] == r.get_json()["actions"]
    assert json.loads(logged.snapshot)["card"]["utilization"] == "0.8500"


def test_fetch_by_id_is_byte_for_byte(client):
    r = client.post("/v1/decisions", json=decision_request(explain="full"))
    fetched = client.get(f"/v1/decisions/{r.get_json()['decision_id']}")
    assert fetched.status_code == 200
    assert fetched.data == r.data
    assert fetched.mimetype == "application/json"


def test_repeated_client_request_id_gives_the_same_decision(client, db_path):
    body = decision_request(client_request_id="review-42")
    first = client.post("/v1/decisions", json=body)
    again = client.post("/v1/decisions", json=body)
    assert first.status_code == 201
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert rows(db_path) == 1


def test_client_request_id_reused_for_another_request_is_refused(client, db_path):
    client.post("/v1/decisions", json=decision_request(client_request_id="review-43"))
    r = client.post("/v1/decisions", json=decision_request(clean_snapshot(), client_request_id="review-43"))
    assert r.status_code == 409
    assert r.get_json()["error"]["reason"] == "client_request_id_reused"
    assert rows(db_path) == 1


def test_only_a_decision_a_retry_can_name_carries_the_hash_of_its_request(client, db_path):
    # The request hash is what a retry under the same client_request_id is compared
    # with: a decision made without one is logged without it.
    from app.service.decide import NO_REQUEST_HASH, DecisionRequest, request_hash

    plain = client.post("/v1/decisions", json=decision_request()).get_json()
    body = decision_request(client_request_id="review-44")
    named = client.post("/v1/decisions", json=body).get_json()
    db = store.connect(db_path)
    try:
        plain_row, named_row = (decision_log.get(db, d["decision_id"]) for d in (plain, named))
    finally:
        db.close()
    assert plain_row.request_hash == NO_REQUEST_HASH == ""
    assert named_row.request_hash == request_hash(DecisionRequest.from_item(body)) != NO_REQUEST_HASH
    assert named_row.request_hash.startswith("sha256:")


def test_explain_full_adds_rules_that_did_not_fire(client):
    body = client.post("/v1/decisions", json=decision_request(explain="full")).get_json()
    not_fired = {entry["rule"] for entry in body["not_fired"]}
    assert "MNT-001" in not_fired and not not_fired & set(body["fired"])
    assert DecisionSchema().validate(body) == {}


def test_pinned_version(client):
    newest = client.get("/v1/rulesets/retail_card").get_json()["version"]
    r = client.post("/v1/decisions", json=decision_request(ruleset_version=newest))
    assert r.status_code == 201 and r.get_json()["ruleset"]["version"] == newest
    r = client.post("/v1/decisions", json=decision_request(ruleset_version=newest + 100))
    assert r.status_code == 404 and r.get_json()["error"]["reason"] == "ruleset_not_found"


def test_money_is_never_a_float(client, db_path):
    # 0.1 + 0.2 style values must reach the engine and the log exactly as sent.
    snap = clean_snapshot()
    raw = json.dumps(decision_request(snap)).replace('"8000.00"', "8000.10")
    r = client.post("/v1/decisions", data=raw, content_type="application/json")
    assert r.status_code == 201, r.data
    db = store.connect(db_path)
    logged = decision_log.get(db, r.get_json()["decision_id"])
    db.close()
    assert json.loads(logged.snapshot)["customer"]["monthly_income"] == "8000.10"


def test_clean_customer_keeps_terms(client):
    body = client.post("/v1/decisions", json=decision_request(clean_snapshot())).get_json()
    assert [a["action"] for a in body["actions"]] == ["maintain"]
    assert body["level"] == "green"


def test_log_removed_gives_503_and_no_decision(client, db_path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_path + suffix):
            os.remove(db_path + suffix)
    r = client.post("/v1/decisions", json=decision_request())
    assert r.status_code == 503
    body = r.get_json()
    assert body["error"]["reason"] == "decision_log_unavailable"
    assert "decision_id" not in r.data.decode()
    assert not os.path.exists(db_path)


def test_log_refusing_writes_gives_503(client, db_path, monkeypatch):
    real_connect = store.connect

    def read_only_connect(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        db.execute("PRAGMA query_only = 1")
        return db

    monkeypatch.setattr(store, "connect", read_only_connect)
    r = client.post("/v1/decisions", json=decision_request())
    assert r.status_code == 503
    assert r.get_json()["error"]["reason"] == "decision_log_unavailable"
    monkeypatch.undo()
    assert rows(db_path) == 0


# ---------------------------------------------------------------- batch


def test_batch_bad_items_fail_alone(client, db_path):
    items = [
        decision_request(customer_id="C-1"),
        {"ruleset_id": "retail_card", "snapshot": {}},  # no customer_id
        decision_request(customer_id="C-3", snapshot={"customer": {"id": 5}}),  # breaks the contract
        decision_request(customer_id="C-4", ruleset_id="no_such_ruleset"),
        decision_request(clean_snapshot(), customer_id="C-5"),
    ]
    r = client.post("/v1/decisions/batch", json={"items": items})
    assert r.status_code == 200
    body = r.get_json()
    assert BatchResponseSchema().validate(body) == {}
    assert [res["status"] for res in body["results"]] == [200, 422, 422, 404, 200]
    assert [res["index"] for res in body["results"]] == [0, 1, 2, 3, 4]
    assert body["decided"] == 2 and body["failed"] == 3
    assert body["results"][1]["error"]["details"][0]["path"] == "customer_id"
    paths = {d["path"] for d in body["results"][2]["error"]["details"]}
    assert "customer.id" in paths and "card" in paths
    assert body["results"][3]["error"]["reason"] == "ruleset_not_found"
    assert rows(db_path) == 2
    # Each decided item is logged and served back exactly as it appears in the batch.
    for res in (body["results"][0], body["results"][4]):
        fetched = client.get(f"/v1/decisions/{res['decision']['decision_id']}")
        assert fetched.data.decode() in r.data.decode()
        assert fetched.get_json() == res["decision"]


def test_batch_limit(app, client):
    app.config["VIGIL_BATCH_LIMIT"] = 3
    r = client.post("/v1/decisions/batch", json={"items": [decision_request()] * 4})
    assert r.status_code == 422
    assert r.get_json()["error"]["details"][0]["path"] == "items"
    r = client.post("/v1/decisions/batch", json={"items": [decision_request(customer_id=f"C-{i}") for i in range(3)]})
    assert r.status_code == 200 and r.get_json()["decided"] == 3


def test_batch_replays_client_request_ids(client, db_path):
    first = client.post("/v1/decisions", json=decision_request(client_request_id="r-1")).get_json()
    items = [decision_request(client_request_id="r-1"), decision_request(client_request_id="r-2"),
             decision_request(client_request_id="r-2")]
    body = client.post("/v1/decisions/batch", json={"items": items}).get_json()
    ids = [res["decision"]["decision_id"] for res in body["results"]]
    assert ids[0] == first["decision_id"]
    assert ids[1] == ids[2] != ids[0]
    assert rows(db_path) == 2


def test_batch_when_log_unavailable_answers_nothing(client, db_path):
    os.remove(db_path)
    r = client.post("/v1/decisions/batch", json={"items": [decision_request()]})
    assert r.status_code == 503 and "decision_id" not in r.data.decode()


def test_unknown_decision_id(client):
    r = client.get("/v1/decisions/does-not-exist")
    assert r.status_code == 404 and r.get_json()["error"]["reason"] == "decision_not_found"


def test_snapshot_constant_matches_readme_example():
    # The README's curl example and these tests decide on the same customer.
    from tests.api.test_readme import readme_decision_snapshot

    assert readme_decision_snapshot() == json.loads(json.dumps(DELINQUENT_SNAPSHOT))
