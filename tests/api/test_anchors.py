"""Identifiers are matched whole: a trailing newline makes a different, refused value
(a ``$`` in a pattern also matches before a final newline)."""

import pytest

from tests.api.test_errors import assert_envelope


def test_an_api_key_with_a_trailing_newline_is_not_the_key(log_db, api_keys):
    from app.store import keys
    assert keys.authenticate(log_db, api_keys["admin"]) is not None
    assert keys.authenticate(log_db, api_keys["admin"] + "\n") is None


def test_a_request_id_with_a_trailing_newline_is_not_echoed(client):
    response = client.get("/v1/rulesets", environ_base={"HTTP_X_REQUEST_ID": "abc\n"})
    assert response.headers["X-Request-Id"] != "abc\n" and "\n" not in response.headers["X-Request-Id"]
    assert client.get("/v1/rulesets", environ_base={"HTTP_X_REQUEST_ID": "abc"}).headers["X-Request-Id"] == "abc"


def test_a_chain_hash_with_a_trailing_newline_is_refused(client):
    response = client.get("/v1/decisions/verify", query_string={"head_seq": 1, "head_chain_hash": "a" * 64 + "\n"})
    assert_envelope(response, 422, "validation_error")


@pytest.mark.parametrize("ruleset_id", ["retail_card\n", "retail_card\r\n"])
def test_a_ruleset_id_with_a_trailing_newline_is_not_the_ruleset(client, ruleset_id):
    from tests.conftest import decision_request
    response = client.post("/v1/decisions", json=decision_request(ruleset_id=ruleset_id))
    assert response.status_code in (404, 422)
