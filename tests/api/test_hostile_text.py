"""Text no field can hold, and cursors the service never gave out, are 4xx naming the
field, never a 500: a lone UTF-16 surrogate (JSON's ``"\\ud800"``) in any string or key
of any body, a cursor of 25 digits, a NUL byte in a search filter. A batch item with a
lone surrogate fails alone; a refused search keeps the worker's database connection."""

import base64
import json

import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import decision_request

LONE = "\\ud800"  # as written in the JSON text
MARK = "@LONE@"


def with_lone_surrogate(body) -> bytes:
    """The JSON of ``body`` with every MARK written as a lone surrogate escape."""
    return json.dumps(body).replace(MARK, LONE).encode()


def draft_document() -> dict:
    return {"document": "id: retail_card\ntitle: A title " + MARK + "\n"}


def snapshot_with(**customer) -> dict:
    request = decision_request()
    request["snapshot"]["customer"].update(customer)
    return request


BODIES = {
    "customer_id": ("/v1/decisions", decision_request(customer_id="C-" + MARK), "customer_id"),
    "snapshot value": ("/v1/decisions", snapshot_with(segment="m" + MARK), "snapshot.customer.segment"),
    "snapshot key": ("/v1/decisions", snapshot_with(**{"x" + MARK: 1}), "snapshot.customer.x\\ud800"),
    "client_request_id": ("/v1/decisions", decision_request(client_request_id="r-" + MARK), "client_request_id"),
    "ruleset draft": ("/v1/rulesets/retail_card/versions", draft_document(), "document"),
    "contract version": ("/v1/schemas/retail_card/versions", {"document": {"id": "retail_card" + MARK}},
                         "document.id"),
    "rollback": ("/v1/rulesets/retail_card/rollback", {"to_version": 1, "x": ["a", "b" + MARK]}, "x.1"),
    "legal hold": ("/v1/legal-holds", {"customer_id": "C-1", "reason": "court order " + MARK}, "reason"),
    "key": ("/v1/keys", {"name": "k" + MARK, "owner": "o", "roles": ["audit"]}, "name"),
    "simulation": ("/v1/simulations", {"ruleset_id": "retail_card", "candidate_version": 1,
                                       "snapshots": [snapshot_with(id="C-" + MARK)["snapshot"]]},
                   "snapshots.0.customer.id"),
}


@pytest.mark.parametrize("name", BODIES)
def test_a_lone_surrogate_in_any_body_is_a_422_naming_it_and_changes_nothing(client, log_db, name):
    path, body, field = BODIES[name]
    before = {t: log_db[t].count for t in ("decisions", "ruleset_versions", "contract_versions", "legal_holds", "api_keys", "audit_events")}
    response = client.post(path, data=with_lone_surrogate(body), content_type="application/json")
    error = assert_envelope(response, 422, "validation_error")["error"]
    assert field in [d["path"] for d in error["details"]], error
    assert "surrogate" in error["message"]
    assert {t: log_db[t].count for t in before} == before


def test_a_lone_surrogate_in_a_replay_snapshot_is_a_422(client):
    decision_id = client.post("/v1/decisions", json=decision_request()).get_json()["decision_id"]
    snapshot = snapshot_with(segment=MARK)["snapshot"]
    response = client.post(f"/v1/decisions/{decision_id}/replay", data=with_lone_surrogate({"snapshot": snapshot}),
                           content_type="application/json")
    error = assert_envelope(response, 422, "validation_error")["error"]
    assert [d["path"] for d in error["details"]] == ["snapshot.customer.segment"]


def test_a_surrogate_pair_is_a_character_and_is_decided(client):
    # "\ud83d\ude00" is one character (U+1F600), not two halves
    body = json.dumps(decision_request(customer_id="C-" + MARK)).replace(MARK, "\\ud83d\\ude00").encode()
    response = client.post("/v1/decisions", data=body, content_type="application/json")
    assert response.status_code == 201, response.data
    assert response.get_json()["customer_id"] == "C-\U0001F600"


def test_a_lone_surrogate_fails_only_its_own_batch_item(client, log_db):
    items = [decision_request(customer_id="C-1"), snapshot_with(employment_status="e" + MARK),
             decision_request(customer_id="C-3" + MARK), decision_request(customer_id="C-4")]
    response = client.post("/v1/decisions/batch", data=with_lone_surrogate({"items": items}),
                           content_type="application/json")
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert [r["status"] for r in body["results"]] == [200, 422, 422, 200]
    assert (body["decided"], body["failed"]) == (2, 2)
    assert [d["path"] for d in body["results"][1]["error"]["details"]] == ["snapshot.customer.employment_status"]
    assert [d["path"] for d in body["results"][2]["error"]["details"]] == ["customer_id", "snapshot.customer.id"]
    assert log_db["decisions"].count == 2


def test_a_lone_surrogate_outside_the_items_fails_the_batch(client):
    body = with_lone_surrogate({"items": [decision_request()], "note" + MARK: 1})
    error = assert_envelope(client.post("/v1/decisions/batch", data=body, content_type="application/json"),
                            422, "validation_error")["error"]
    assert [d["path"] for d in error["details"]] == ["note\\ud800"]


def decisions_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_CURSORS = {
    "/v1/decisions": [decisions_cursor("seq:" + "9" * 25), decisions_cursor("seq:9223372036854775808"),
                      decisions_cursor("seq:+1"), decisions_cursor("seq: 1"), decisions_cursor("seq:\u0661"),
                      decisions_cursor("seq:"), "%00", "not-a-cursor"],
    "/v1/audit-events": ["9" * 25, "9" * 64, "9223372036854775808", "%2B1", "%201", "1_0", "-1", "\u0661", "%00"],
}


@pytest.mark.parametrize("path,cursor", [(p, c) for p, cs in BAD_CURSORS.items() for c in cs])
def test_a_cursor_the_service_never_gave_out_is_a_422(client, path, cursor):
    error = assert_envelope(client.get(f"{path}?cursor={cursor}"), 422, "validation_error")["error"]
    # "query.cursor" when the query's schema refuses it first (longer than a cursor can be)
    assert [d["path"].removeprefix("query.") for d in error["details"]] == ["cursor"]


def test_the_largest_cursor_is_read(client):
    assert client.get("/v1/audit-events?cursor=9223372036854775807").get_json() == {"events": [],
                                                                                  "next_cursor": None}
    cursor = decisions_cursor("seq:9223372036854775807")
    assert client.get(f"/v1/decisions?cursor={cursor}").status_code == 200


NUL_QUERIES = [
    ("/v1/decisions", "q"), ("/v1/decisions", "customer_id"), ("/v1/decisions", "ruleset_id"),
    ("/v1/decisions", "rule"), ("/v1/decisions", "action"),
    ("/v1/decisions/export", "q"), ("/v1/decisions/export", "customer_id"),
    ("/v1/audit-events", "actor"), ("/v1/audit-events", "action"), ("/v1/audit-events", "target"),
    ("/v1/legal-holds", "customer_id"),
]


@pytest.mark.parametrize("path,param", NUL_QUERIES)
def test_a_nul_byte_in_a_search_filter_is_a_422_and_keeps_the_connection(app, client, path, param):
    client.post("/v1/decisions", json=decision_request())  # something to search, and a connection
    connections = app.extensions["vigil.log_connections"]
    before = connections.db
    assert before is not None
    error = assert_envelope(client.get(f"{path}?{param}=debt%00x"), 422, "validation_error")["error"]
    assert [d["path"] for d in error["details"]] == [param]
    assert connections.db is before  # not dropped: nothing was wrong with the database
    assert client.get("/v1/decisions?q=debt").status_code == 200


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/decisions/export", "/v1/audit-events", "/v1/legal-holds"])
def test_a_misspelt_query_parameter_is_a_422_naming_it_not_a_search_of_everything(client, path):
    client.post("/v1/decisions", json=decision_request())
    error = assert_envelope(client.get(f"{path}?custmer_id=C-100001"), 422, "validation_error")["error"]
    assert [d["path"] for d in error["details"]] == ["query.custmer_id"]


@pytest.mark.parametrize("url", ["/v1/decisions?customer_id=%ED%A0%80", "/v1/decisions?q=%ED%A0%80",
                                 "/v1/audit-events?actor=%ED%A0%80", "/v1/legal-holds?customer_id=%ED%A0%80",
                                 "/v1/decisions/%ED%A0%80", "/v1/rulesets/%ED%A0%80"])
def test_a_surrogate_sent_as_bytes_in_a_query_or_path_is_not_text_and_breaks_nothing(client, url):
    # UTF-8 cannot encode a surrogate: its bytes are invalid and read as U+FFFD, never a lone surrogate
    response = client.get(url)
    assert response.status_code in (200, 404), response.data
    response.get_data().decode("utf-8")
