"""The decision log for compliance through the API: search, explanation, replay, export,
verify, legal holds, and every read recorded as an audit event."""

import copy
import csv
import io
import json
import sqlite3

import pytest
import yaml

from app.engine.scenarios import build_snapshot
from app.store import decision_log
from app.store import search as store_search
from tests.api.test_errors import assert_envelope
from tests.conftest import (
    DELINQUENT_SNAPSHOT,
    KEY_OWNERS,
    ROOT,
    bearer,
    clean_snapshot,
    console_client,
    decision_request,
)


@pytest.fixture
def auditor(app, api_keys):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['audit']}"
    return client


@pytest.fixture
def legal(as_role):
    return as_role("legal")


def decide(client, snapshot=None, **fields) -> dict:
    response = client.post("/v1/decisions", json=decision_request(snapshot, **fields))
    assert response.status_code == 201, response.data
    return response.get_json()


def events(client, action: str) -> list[dict]:
    return client.get(f"/v1/audit-events?action={action}").get_json()["events"]


def scenario_requests() -> list[dict]:
    """Every scenario of every shipped ruleset, as a decision request: a sample that fires
    most rules of each ruleset."""
    out = []
    for path in sorted((ROOT / "rulesets").glob("*.scenarios.yaml")):
        doc = yaml.safe_load(path.read_text())
        for n, scenario in enumerate(doc["scenarios"]):
            if "follow_up" in scenario:
                continue  # follow-up facts come from the tasks, not from the caller
            snapshot = json.loads(json.dumps(build_snapshot(scenario, doc.get("bases") or {}), default=str))
            snapshot.setdefault("customer", {})["id"] = f"{doc['ruleset']}-{n}"  # as customer_id says
            out.append({"ruleset_id": doc["ruleset"], "customer_id": f"{doc['ruleset']}-{n}",
                        "snapshot": snapshot,
                        "explain": "full" if n % 2 else "summary"})
    return out


# ---------------------------------------------------------------- routes


def test_static_routes_are_not_taken_for_decision_ids(auditor):
    assert auditor.get("/v1/decisions/verify").get_json()["ok"] is True
    assert "chain_hash" in auditor.get("/v1/decisions/head").get_json()
    assert auditor.get("/v1/decisions/export").mimetype == "text/csv"
    assert_envelope(auditor.get("/v1/decisions/no-such-id/explanation"), 404, "decision_not_found")
    assert_envelope(auditor.post("/v1/decisions/no-such-id/replay"), 404, "decision_not_found")


# ---------------------------------------------------------------- search


def test_each_search_filter_reaches_the_log(client, auditor):
    delinquent = decide(client, customer_id="C-1")
    clean = decide(client, clean_snapshot("C-2"), customer_id="C-2")
    loan = scenario_requests()[0]
    personal = client.post("/v1/decisions", json=loan).get_json()

    def ids(query: str) -> list[str]:
        response = auditor.get(f"/v1/decisions?{query}")
        assert response.status_code == 200, response.data
        return [d["decision_id"] for d in response.get_json()["decisions"]]

    d1, d2, d3 = delinquent["decision_id"], clean["decision_id"], personal["decision_id"]
    assert ids("") == [d3, d2, d1]
    assert ids("customer_id=C-1") == [d1]
    assert ids("ruleset_id=personal_loan") == [d3]
    assert ids("ruleset_id=retail_card&ruleset_version=1") == [d2, d1]
    assert ids("ruleset_version=2") == []
    assert ids("rule=EXT-001") == [d1]
    assert ids("action=reduce_limit") == [d1]
    assert ids("level=green") == [d3, d2]
    assert ids("q=utilization") == [d1]
    after = delinquent["decided_at"]
    assert ids(f"from={after}") == [d3, d2, d1]
    assert ids(f"to={after}") == []
    assert ids(f"from={clean['decided_at']}&level=green&ruleset_id=retail_card") == [d2]
    assert ids("q=overdue banks&action=contact_customer&customer_id=C-1") == [d1]
    page = auditor.get("/v1/decisions?limit=2").get_json()
    rest = auditor.get(f"/v1/decisions?limit=2&cursor={page['next_cursor']}").get_json()
    assert [d["decision_id"] for d in page["decisions"] + rest["decisions"]] == [d3, d2, d1]
    assert rest["next_cursor"] is None
    assert_envelope(auditor.get("/v1/decisions?cursor=nonsense"), 422, "validation_error")
    assert_envelope(auditor.get("/v1/decisions?from=yesterday"), 422, "validation_error")


def test_a_search_by_words_indexes_within_its_budget_and_says_how_far_it_reached(app, client, auditor, api_keys,
                                                                                monkeypatch):
    monkeypatch.setattr(store_search, "INDEX_BATCH", 2)
    app.config["VIGIL_SEARCH_INDEX_SECONDS"] = 0  # one batch per search
    made = [decide(client, customer_id=f"C-{n}")["decision_id"] for n in range(9)]
    first = auditor.get("/v1/decisions?q=utilization")
    assert first.status_code == 200
    body = first.get_json()
    assert body["index"] == {"indexed_through": 2, "newest": 9, "complete": False}
    assert [d["decision_id"] for d in body["decisions"]] == made[1::-1]  # only the indexed ones
    searched = events(client, "decision.search")[0]
    assert searched["details"]["index"] == body["index"]
    assert auditor.get("/v1/decisions?customer_id=C-4").get_json()["index"] is None  # reads the log itself
    exported = auditor.get("/v1/decisions/export?format=jsonl&q=utilization")
    assert exported.headers["X-Vigil-Through-Seq"] == "4" and exported.headers["X-Vigil-Count"] == "4"
    # The console says what was not searched yet.
    console = console_client(app, api_keys["audit"])
    shown = console.get("/console/decisions?q=utilization").get_data(as_text=True)
    assert "up to decision #6 of #9: 3 newer decisions are still being indexed" in " ".join(shown.split())
    app.config["VIGIL_SEARCH_INDEX_SECONDS"] = 2.0
    done = auditor.get("/v1/decisions?q=utilization").get_json()
    assert done["index"]["complete"] and [d["decision_id"] for d in done["decisions"]] == made[::-1]
    assert 'id="index-behind"' not in console.get("/console/decisions?q=utilization").get_data(as_text=True)


def test_every_read_of_the_log_is_an_audit_event(client, auditor, api_keys):
    decision = decide(client, customer_id="C-9")
    did = decision["decision_id"]
    carol = KEY_OWNERS["audit"]
    assert auditor.get(f"/v1/decisions?customer_id=C-9").status_code == 200
    assert auditor.get(f"/v1/decisions/{did}").status_code == 200
    assert auditor.get(f"/v1/decisions/{did}/explanation").status_code == 200
    assert auditor.post(f"/v1/decisions/{did}/replay").status_code == 200
    assert auditor.get("/v1/decisions/export?format=jsonl&customer_id=C-9").status_code == 200
    assert auditor.get("/v1/decisions/verify").status_code == 200
    assert auditor.get("/v1/decisions/head").status_code == 200
    seen = {e["action"]: e for e in events(client, "decision.")}
    assert set(seen) == {"decision.search", "decision.read", "decision.explain", "decision.replay",
                         "decision.export", "decision.verify", "decision.head"}
    assert all(e["actor"] == carol for e in seen.values())
    assert seen["decision.search"]["details"]["filters"] == {"customer_id": "C-9"}
    assert seen["decision.search"]["details"]["decision_ids"] == [did]
    assert seen["decision.read"]["target"] == f"decision:{did}"
    assert seen["decision.export"]["details"]["count"] == 1
    assert seen["decision.export"]["details"]["format"] == "jsonl"
    assert seen["decision.verify"]["details"]["ok"] is True
    # A loan system fetching its own decision is recorded too.
    client.get(f"/v1/decisions/{did}", headers=bearer(api_keys["decide"]))
    reads = events(client, "decision.read")
    assert [e["actor"] for e in reads] == [carol, KEY_OWNERS["decide"]]


# ---------------------------------------------------------------- explanation


def test_the_explanation_tells_each_action_with_its_rules_values_and_thresholds(client, auditor):
    did = decide(client)["decision_id"]
    story = auditor.get(f"/v1/decisions/{did}/explanation").get_json()
    assert story["thresholds_from"] == "ruleset"
    assert [a["action"] for a in story["actions"]] == ["reduce_limit", "contact_customer"]
    [act] = story["actions"][0]["rules"]
    assert (act["rule"], act["clause"], act["order"]) == ("ACT-010", "RCP-2026 5.1", 3)
    assert act["facts"] == [{"subject": "card.utilization", "actual": "0.8500", "op": ">", "threshold": "0.80",
                             "avoided_if": "card.utilization at or below 0.80"}]
    [source] = act["relied_on"]
    assert source["rule"] == "EXT-001" and source["signals"] == ["external_delinquency"]
    assert source["facts"][0]["avoided_if"] == "credit_report.other_banks.overdue_accounts_6m below 2"
    text = "\n".join(story["paragraphs"])
    assert "Warning level orange (set by ACT-010)" in text
    assert "1. Reduce the credit limit (percent 30) - an adverse action" in text
    assert "clause RCP-2026 5.1" in text and "card.utilization was 0.8500" in text
    assert text.index("ACT-010") < text.index("EXT-001 \"Two or more")
    assert story["trail"] == json.loads(auditor.get(f"/v1/decisions/{did}").data)["trail"]


# ---------------------------------------------------------------- replay


def test_replaying_a_sample_of_logged_decisions_gives_identical_outcomes(client, auditor):
    requests = scenario_requests()
    assert len(requests) >= 20
    decided = client.post("/v1/decisions/batch", json={"items": requests}).get_json()
    assert decided["failed"] == 0
    for result in decided["results"]:
        did = result["decision"]["decision_id"]
        report = auditor.post(f"/v1/decisions/{did}/replay").get_json()
        assert report["identical"] is True, report
        assert report["diff"] == {} and report["notes"] == []
        assert report["replayed"]["fired"] == result["decision"]["fired"]


def test_replay_after_the_stored_ruleset_changed_reports_the_difference(client, auditor, db_path):
    did = decide(client)["decision_id"]
    # Test only: change the stored version 1 in place, as no API can.
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER ruleset_versions_frozen")
    [document] = conn.execute("SELECT document FROM ruleset_versions WHERE ruleset_id = 'retail_card' "
                              "AND version = 1").fetchone()
    changed = json.loads(document)
    [act] = [r for r in changed["rules"] if r["id"] == "ACT-010"]
    act["actions"][0] = {"reduce_limit": {"percent": 40}}
    conn.execute("UPDATE ruleset_versions SET document = ? WHERE ruleset_id = 'retail_card' AND version = 1",
                 [json.dumps(changed)])
    conn.commit()
    conn.close()
    report = auditor.post(f"/v1/decisions/{did}/replay").get_json()
    assert report["identical"] is False
    assert set(report["diff"]) == {"actions"}
    assert report["diff"]["actions"]["logged"][0]["params"] == {"percent": 30}
    assert report["diff"]["actions"]["replayed"][0]["params"] == {"percent": 40}
    assert report["ruleset"]["compiled_hash"] != report["ruleset"]["logged_hash"]
    assert any("no longer matches the hash" in note for note in report["notes"])


# ---------------------------------------------------------------- export and verify


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_streams_the_search(client, auditor, fmt):
    for n in range(7):
        decide(client, customer_id=f"C-{n % 2}")
    response = auditor.get(f"/v1/decisions/export?format={fmt}&customer_id=C-1")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["X-Vigil-Count"] == "3"
    assert response.headers["Content-Disposition"].endswith(f'.{fmt}"')
    text = response.get_data(as_text=True)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert response.mimetype == "text/csv"
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        assert response.mimetype == "application/x-ndjson"
        assert rows[0]["snapshot"]["card"]["utilization"] == "0.8500"
    assert [r["customer_id"] for r in rows] == ["C-1"] * 3
    assert_envelope(auditor.get("/v1/decisions/export?format=xlsx"), 422, "validation_error")


def test_verify_names_a_tampered_record_and_checks_an_exported_head(client, auditor, db_path):
    ids = [decide(client, customer_id=f"C-{n}")["decision_id"] for n in range(5)]
    head = auditor.get("/v1/decisions/head").get_json()
    assert (head["seq"], head["count"]) == (5, 5)
    query = f"head_seq={head['seq']}&head_chain_hash={head['chain_hash']}&head_count={head['count']}"
    assert auditor.get(f"/v1/decisions/verify?{query}").get_json()["against_head"]["ok"] is True
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER decisions_only_purged")
    conn.execute("UPDATE decisions SET response = replace(response, '\"percent\":30', '\"percent\":10') "
                 "WHERE seq = 3")
    conn.commit()
    conn.close()
    report = auditor.get(f"/v1/decisions/verify?{query}").get_json()
    assert report["ok"] is False and report["checked"] == 2
    assert report["problem"]["kind"] == "edited" and report["problem"]["decision_id"] == ids[2]
    bad = auditor.get("/v1/decisions/verify?head_seq=5")
    assert_envelope(bad, 422, "validation_error")


def test_verify_names_a_tampered_audit_event(client, auditor, db_path):
    decide(client, customer_id="C-1")
    assert auditor.get("/v1/audit-events?action=decision.read").status_code == 200
    intact = auditor.get("/v1/decisions/verify").get_json()
    assert intact["ok"] is True and intact["audit_events"]["ok"] is True and intact["audit_events"]["checked"] >= 1
    events = auditor.get("/v1/audit-events?limit=1000").get_json()["events"]
    assert all(e["chain_hash"] for e in events)
    victim = events[len(events) // 2]
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER audit_events_no_update")
    conn.execute("UPDATE audit_events SET actor = 'someone else' WHERE seq = ?", [victim["seq"]])
    conn.commit()
    conn.close()
    report = auditor.get("/v1/decisions/verify").get_json()
    assert report["ok"] is False and report["problem"] is None  # the decisions themselves are intact
    problem = report["audit_events"]["problem"]
    assert (problem["kind"], problem["seq"], problem["event_id"]) == ("edited", victim["seq"], victim["id"])
    # the verification is itself an audit event, which says what it found
    [last] = [e for e in auditor.get("/v1/audit-events?action=decision.verify").get_json()["events"]][-1:]
    assert last["details"]["audit_events"]["problem"]["seq"] == victim["seq"]


def test_an_exported_head_holds_the_audit_events_end_too(client, auditor, db_path):
    decide(client, customer_id="C-1")
    head = auditor.get("/v1/decisions/head").get_json()
    assert head["audit_seq"] >= 1 and len(head["audit_chain_hash"]) == 64
    query = (f"head_seq={head['seq']}&head_chain_hash={head['chain_hash']}"
             f"&head_audit_seq={head['audit_seq']}&head_audit_chain_hash={head['audit_chain_hash']}")
    assert auditor.get(f"/v1/decisions/verify?{query}").get_json()["ok"] is True
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER audit_events_no_delete")
    conn.execute("DELETE FROM audit_events WHERE seq >= ?", [head["audit_seq"]])
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_events'", [head["audit_seq"] - 1])
    conn.commit()
    conn.close()
    report = auditor.get(f"/v1/decisions/verify?{query}").get_json()
    assert report["ok"] is False
    assert report["audit_events"]["problem"]["kind"] == "truncated"
    assert_envelope(auditor.get("/v1/decisions/verify?head_audit_seq=3"), 422, "validation_error")


# ---------------------------------------------------------------- holds and purge


def test_legal_holds_are_placed_listed_and_released_once(client, auditor, legal):
    placed = legal.post("/v1/legal-holds", json={"customer_id": "C-1", "reason": "complaint 118"})
    assert placed.status_code == 201
    hold = placed.get_json()
    assert hold["active"] and hold["placed_by"] == KEY_OWNERS["legal"]
    # audit reads the holds, and changes nothing
    assert [h["hold_id"] for h in auditor.get("/v1/legal-holds?customer_id=C-1").get_json()["holds"]] == \
        [hold["hold_id"]]
    assert_envelope(auditor.post("/v1/legal-holds", json={"customer_id": "C-2", "reason": "x"}), 403, "forbidden")
    assert_envelope(auditor.post(f"/v1/legal-holds/{hold['hold_id']}/release", json={"reason": "closed"}),
                    403, "forbidden")
    released = legal.post(f"/v1/legal-holds/{hold['hold_id']}/release", json={"reason": "closed"})
    assert released.status_code == 200 and released.get_json()["active"] is False
    assert_envelope(legal.post(f"/v1/legal-holds/{hold['hold_id']}/release"), 409, "invalid_status")
    assert_envelope(legal.post("/v1/legal-holds/nope/release"), 404, "hold_not_found")
    assert legal.get("/v1/legal-holds").get_json()["holds"] == []
    assert len(auditor.get("/v1/legal-holds?all=true").get_json()["holds"]) == 1
    assert [e["action"] for e in events(client, "hold.")] == ["hold.place", "hold.release"]


def test_a_purged_decision_answers_410_and_keeps_its_place(client, auditor, legal, db_path):
    import datetime as dt

    from app import store
    from app.store import retention
    from app.store.audit import Actor

    kept, gone = decide(client, customer_id="C-held"), decide(client, customer_id="C-gone")
    assert legal.post("/v1/legal-holds", json={"customer_id": "C-held", "reason": "litigation"}).status_code == 201
    db = store.connect(db_path)
    report = retention.purge(db, retention_days=1, actor=Actor("ops"),
                             now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2))
    db.close()
    assert (report.purged, report.held) == (1, 1)
    assert_envelope(client.get(f"/v1/decisions/{gone['decision_id']}"), 410, "decision_purged")
    assert_envelope(auditor.get(f"/v1/decisions/{gone['decision_id']}/explanation"), 410, "decision_purged")
    assert client.get(f"/v1/decisions/{kept['decision_id']}").status_code == 200
    [summary] = [d for d in auditor.get("/v1/decisions").get_json()["decisions"]
                 if d["decision_id"] == gone["decision_id"]]
    assert summary["customer_id"] is None and summary["purged_at"] and summary["level"] == "orange"
    assert auditor.get("/v1/decisions/verify").get_json()["ok"] is True


# ---------------------------------------------------------------- masking


@pytest.fixture
def masking_app(db_path):
    from app import create_app

    return create_app({"VIGIL_DATABASE": db_path, "VIGIL_REQUIRE_RULESETS": True, "TESTING": True,
                       "VIGIL_POLICY_CHECK_SECONDS": 0, "VIGIL_MASK_PERSONAL": True,
                       "VIGIL_MASK_KEY": "a test masking key of 32 bytes.."})


def test_masked_fields_are_logged_as_keyed_hashes_and_replayed_with_the_original(masking_app, api_keys, db_path):
    client = masking_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['admin']}"
    snapshot = copy.deepcopy(DELINQUENT_SNAPSHOT)
    answer = client.post("/v1/decisions", json=decision_request(snapshot, customer_id="C-100001",
                                                                 client_request_id="masked-1"))
    assert answer.status_code == 201
    body = answer.get_json()
    assert [a["action"] for a in body["actions"]] == ["reduce_limit", "contact_customer"]
    from app import store

    db = store.connect(db_path)
    logged = decision_log.get(db, body["decision_id"])
    db.close()
    assert logged.response.encode() == answer.data
    assert logged.masked.startswith("hmac-sha256:")
    logged_snapshot = json.loads(logged.snapshot)
    assert logged_snapshot["customer"]["id"].startswith("hmac:") and "CARD-100001" not in logged.snapshot
    assert "8000.00" not in logged.snapshot and logged_snapshot["card"]["utilization"] == "0.8500"
    assert logged.customer_id == "C-100001", "the log is searched and held by the request's customer_id"
    assert logged.request_hash.startswith("hmac-sha256:")
    did = body["decision_id"]
    blind = client.post(f"/v1/decisions/{did}/replay").get_json()
    assert blind["identical"] is None and "EXT-004" in blind["notes"][0]
    exact = client.post(f"/v1/decisions/{did}/replay", json={"snapshot": snapshot}).get_json()
    assert exact["identical"] is True, exact
    other = copy.deepcopy(snapshot)
    other["customer"]["monthly_income"] = "9000.00"
    refused = client.post(f"/v1/decisions/{did}/replay", json={"snapshot": other}).get_json()
    assert refused["identical"] is None and "not the one the decision was made on" in refused["notes"][0]
    story = client.get(f"/v1/decisions/{did}/explanation").get_json()
    assert story["thresholds_from"] == "trail" and story["actions"][0]["rules"][0]["rule"] == "ACT-010"
    # A retry is recognised by its keyed request hash.
    again = client.post("/v1/decisions", json=decision_request(snapshot, customer_id="C-100001",
                                                                client_request_id="r-1"))
    retry = client.post("/v1/decisions", json=decision_request(snapshot, customer_id="C-100001",
                                                                client_request_id="r-1"))
    assert retry.status_code == 200 and retry.data == again.data


def exported_and_indexed(client, db_path) -> str:
    """Every export of the log, and the words its search index holds."""
    from app import store

    snapshot = copy.deepcopy(DELINQUENT_SNAPSHOT)
    body = decision_request(snapshot, customer_id="C-100001", explain="full")
    assert client.post("/v1/decisions", json=body).status_code == 201
    assert client.get("/v1/decisions?q=limit").get_json()["decisions"]  # indexed now
    texts = [client.get(f"/v1/decisions/export?format={fmt}").get_data(as_text=True) for fmt in ("csv", "jsonl")]
    db = store.connect(db_path)
    texts += [r[0] for r in db.execute("SELECT text FROM decision_texts").fetchall()]
    db.close()
    return "\n".join(texts)


def test_masked_fields_stay_masked_in_the_search_index_and_every_export(masking_app, api_keys, db_path):
    client = masking_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['admin']}"
    text = exported_and_indexed(client, db_path)
    assert "C-100001" in text and "hmac:" in text
    assert "CARD-100001" not in text and "8000.00" not in text


def test_without_masking_the_same_fields_are_exported_in_clear(client, db_path):
    text = exported_and_indexed(client, db_path)
    assert "CARD-100001" in text and "8000.00" in text  # what the test above would catch
