"""What a hostile caller can do over HTTP: duplicate JSON keys, the last admin key,
headers on every response, redirects, failed authentication."""

import json

import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import bearer, decision_request


# ---------------------------------------------------------------- duplicate JSON keys


DUPLICATES = {
    "top level": ('{"ruleset_id": "retail_card", "ruleset_id": "other", "customer_id": "C-1", "snapshot": {}}',
                  "ruleset_id"),
    "nested": ('{"ruleset_id": "retail_card", "customer_id": "C-1", '
               '"snapshot": {"card": {"dpd": 0, "dpd": 90}}}', "dpd"),
    "batch item": ('{"items": [{"ruleset_id": "retail_card", "customer_id": "C-1", "customer_id": "C-2", '
                   '"snapshot": {}}]}', "customer_id"),
}


@pytest.mark.parametrize("body,key", DUPLICATES.values(), ids=DUPLICATES.keys())
def test_a_key_twice_in_one_object_is_refused_naming_it(client, log_db, body, key):
    path = "/v1/decisions/batch" if '"items"' in body else "/v1/decisions"
    error = assert_envelope(client.post(path, data=body, content_type="application/json"), 400, "malformed_json")
    assert f'"{key}"' in error["error"]["message"]
    assert error["error"]["details"][0]["key"] == key
    assert log_db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0


def test_governance_bodies_refuse_duplicate_keys_too(client):
    response = client.post("/v1/rulesets/retail_card/versions", data='{"document": {}, "document": {}}',
                           content_type="application/json")
    assert assert_envelope(response, 400, "malformed_json")["error"]["details"][0]["key"] == "document"


def test_equal_keys_in_different_objects_are_fine(client):
    body = decision_request()
    body["snapshot"]["customer"]["id"] = body["customer_id"]  # "id" in several objects
    assert client.post("/v1/decisions", json=body).status_code == 201


# ---------------------------------------------------------------- the last admin key


def test_the_last_active_admin_key_cannot_be_revoked(client, anonymous, api_keys):
    [admin] = [k for k in client.get("/v1/keys").get_json()["keys"] if "admin" in k["roles"] and k["active"]]
    response = client.post(f"/v1/keys/{admin['key_id']}/revoke")
    assert "another admin key" in assert_envelope(response, 409, "last_admin_key")["error"]["message"]
    assert anonymous.get("/v1/keys", headers=bearer(api_keys["admin"])).status_code == 200
    # With a second admin key, the first can go, and then the second is the last.
    second = client.post("/v1/keys", json={"name": "admin-2", "owner": "ada.admin", "roles": ["audit", "admin"]})
    assert client.post(f"/v1/keys/{admin['key_id']}/revoke").status_code == 200
    other = anonymous.post(f"/v1/keys/{second.get_json()['key_id']}/revoke",
                           headers=bearer(second.get_json()["key"]))
    assert_envelope(other, 409, "last_admin_key")
    events = [e["action"] for e in anonymous.get("/v1/audit-events?action=key.revoke",
                                                 headers=bearer(second.get_json()["key"])).get_json()["events"]]
    assert events == ["key.revoke"]


def test_the_command_line_refuses_it_too(log_db):
    from app.store import keys
    from app.store.audit import Actor
    from app.store.errors import LastAdminKey

    [admin] = [k for k in keys.list_keys(log_db, include_revoked=False) if "admin" in k.roles]
    with pytest.raises(LastAdminKey):
        keys.revoke_key(log_db, admin.key_id, actor=Actor("root (command line)"))
    assert keys.get_key(log_db, admin.key_id).active


# ---------------------------------------------------------------- headers on every response


def _every_kind_of_answer(client, anonymous):
    """(label, response) for data, errors, the docs and their files, and a key."""
    created = client.post("/v1/keys", json={"name": "k", "owner": "o", "roles": ["decide"]})
    answers = {
        "decision": client.post("/v1/decisions", json=decision_request()),
        "error 401": anonymous.get("/v1/keys"),
        "error 404": client.get("/v1/nowhere"),
        "error 400": client.post("/v1/decisions", data=b"{", content_type="application/json"),
        "healthz": anonymous.get("/healthz"),
        "openapi": anonymous.get("/openapi.json"),
        "docs": anonymous.get("/docs"),
        "docs script": anonymous.get("/docs/assets/vigil-docs.js"),
        "swagger file": anonymous.get("/docs/assets/swagger-ui-bundle.js"),
        "new key": created,
        "options": anonymous.options("/v1/decisions"),
    }
    for response in answers.values():
        response.get_data()
        response.close()
    return answers


def test_every_response_forbids_sniffing_framing_and_foreign_content(client, anonymous):
    for label, response in _every_kind_of_answer(client, anonymous).items():
        assert response.status_code < 500, label
        assert response.headers["X-Content-Type-Options"] == "nosniff", label
        assert response.headers["X-Frame-Options"] == "DENY", label
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, label
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0] if "script-src" in csp else True
        if label not in ("docs", "docs script", "swagger file"):
            assert csp.startswith("default-src 'none'") and "script-src" not in csp, label


def test_answers_are_never_cached_and_a_new_key_least_of_all(client, anonymous):
    answers = _every_kind_of_answer(client, anonymous)
    assert answers["new key"].status_code == 201 and answers["new key"].get_json()["key"]
    for label, response in answers.items():
        if label not in ("swagger file", "docs script"):
            assert response.headers["Cache-Control"] == "no-store", label


def test_the_docs_page_runs_no_inline_script(anonymous):
    page = anonymous.get("/docs")
    assert page.status_code == 200
    html = page.data.decode()
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    import re

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert " on" not in html.lower().replace("<body>", "")  # no onload= and the like
    spec_url = re.search(r'data-spec-url="([^"]+)"', html).group(1)
    assert anonymous.get(spec_url).get_json()["info"]["title"] == "Vigil"
    starter = anonymous.get("/docs/assets/vigil-docs.js")
    script = starter.get_data()
    starter.close()
    assert starter.status_code == 200 and b"SwaggerUIBundle" in script


def test_the_host_header_is_never_reflected_into_a_redirect(anonymous):
    for path in ("/v1//keys", "//v1/keys", "/v1/decisions//batch"):
        response = anonymous.get(path, headers={"Host": "evil.example"})
        location = response.headers.get("Location", "")
        assert "evil.example" not in location, (path, location)
        if response.status_code in (301, 302, 307, 308):
            assert location.startswith("/") and not location.startswith("//"), (path, location)


def test_options_on_the_batch_endpoint_advertises_only_post(anonymous):
    response = anonymous.options("/v1/decisions/batch")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"POST", "OPTIONS"}
    response = anonymous.options("/v1/decisions/5b0f0000-0000-4000-8000-000000000000")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}
