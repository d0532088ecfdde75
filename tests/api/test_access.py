"""Access control: every endpoint x every role.

The table below is the access policy, written out by hand. The test walks the app's
url_map, so an endpoint added without a row here (and a role declaration in its view)
fails, and it calls every endpoint with no key, with a bad key, and with a key of each
role: a role not in the row must get 403, no key 401, both in the error envelope."""

import re

import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import bearer

ALL = {"decide", "author", "approve", "audit", "legal", "officer", "admin"}
# Who reads the policies served: every role but officer (its own tasks and nothing more).
READERS = ALL - {"officer"}
PUBLIC = "public"

EXPECTED = {
    ("POST", "/v1/decisions"): {"decide"},
    ("POST", "/v1/decisions/batch"): {"decide"},
    ("GET", "/v1/decisions/<string:decision_id>"): {"decide", "audit"},
    ("GET", "/v1/decisions"): {"audit"},
    ("GET", "/v1/decisions/export"): {"audit"},
    ("GET", "/v1/decisions/head"): {"audit"},
    ("GET", "/v1/decisions/verify"): {"audit"},
    ("GET", "/v1/decisions/<string:decision_id>/explanation"): {"audit"},
    ("POST", "/v1/decisions/<string:decision_id>/replay"): {"audit"},
    ("POST", "/v1/legal-holds"): {"legal"},
    ("GET", "/v1/legal-holds"): {"audit", "legal"},
    ("POST", "/v1/legal-holds/<string:hold_id>/release"): {"legal"},
    ("GET", "/v1/follow-up/report"): {"approve", "audit"},
    ("GET", "/v1/follow-up/report/export"): {"approve", "audit"},
    ("GET", "/v1/rulesets"): READERS,
    ("GET", "/v1/rulesets/<string:ruleset_id>"): READERS,
    ("GET", "/v1/rulesets/<string:ruleset_id>/versions"): READERS,
    ("POST", "/v1/rulesets/<string:ruleset_id>/versions"): {"author"},
    ("GET", "/v1/rulesets/<string:ruleset_id>/versions/<int:version>"): READERS,
    ("PUT", "/v1/rulesets/<string:ruleset_id>/versions/<int:version>"): {"author"},
    ("POST", "/v1/rulesets/<string:ruleset_id>/versions/<int:version>/submit"): {"author"},
    ("POST", "/v1/rulesets/<string:ruleset_id>/versions/<int:version>/approve"): {"approve"},
    ("POST", "/v1/rulesets/<string:ruleset_id>/versions/<int:version>/reject"): {"approve"},
    ("POST", "/v1/rulesets/<string:ruleset_id>/versions/<int:version>/publish"): {"approve"},
    ("POST", "/v1/rulesets/<string:ruleset_id>/versions/<int:version>/retire"): {"approve"},
    ("POST", "/v1/rulesets/<string:ruleset_id>/rollback"): {"approve"},
    ("GET", "/v1/rulesets/<string:ruleset_id>/publications"): READERS,
    ("GET", "/v1/rulesets/<string:ruleset_id>/diff"): READERS,
    ("GET", "/v1/schemas"): READERS,
    ("GET", "/v1/schemas/<string:schema_id>"): READERS,
    ("POST", "/v1/schemas/<string:schema_id>/versions"): {"author"},
    ("GET", "/v1/schemas/<string:schema_id>/versions"): READERS,
    ("GET", "/v1/schemas/<string:schema_id>/versions/<int:version>"): READERS,
    ("POST", "/v1/schemas/<string:schema_id>/versions/<int:version>/submit"): {"author"},
    ("POST", "/v1/schemas/<string:schema_id>/versions/<int:version>/approve"): {"approve"},
    ("POST", "/v1/schemas/<string:schema_id>/versions/<int:version>/reject"): {"approve"},
    ("POST", "/v1/schemas/<string:schema_id>/versions/<int:version>/publish"): {"approve"},
    ("POST", "/v1/schemas/<string:schema_id>/versions/<int:version>/retire"): {"approve"},
    ("GET", "/v1/audit-events"): {"audit"},
    ("POST", "/v1/keys"): {"admin"},
    ("GET", "/v1/keys"): {"admin"},
    ("POST", "/v1/keys/<string:key_id>/revoke"): {"admin"},
    ("PUT", "/v1/keys/<string:key_id>/queues"): {"admin"},
    ("POST", "/v1/simulations"): {"author", "approve"},
    ("GET", "/v1/simulations/<string:simulation_id>"): {"author", "approve", "audit"},
    ("GET", "/v1/simulations/<string:simulation_id>/report.html"): {"author", "approve", "audit"},
    ("GET", "/v1/tasks"): {"officer", "approve", "audit"},
    ("GET", "/v1/tasks/<string:task_id>"): {"officer", "approve", "audit"},
    ("POST", "/v1/tasks/<string:task_id>/claim"): {"officer", "approve"},
    ("POST", "/v1/tasks/<string:task_id>/complete"): {"officer", "approve"},
    ("POST", "/v1/tasks/<string:task_id>/hand-on"): {"officer", "approve"},
    ("POST", "/v1/tasks/<string:task_id>/waiver"): {"officer", "approve"},
    ("POST", "/v1/tasks/<string:task_id>/waiver/approve"): {"approve"},
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/assets/<name>"): PUBLIC,
    ("GET", "/static/<path:filename>"): PUBLIC,
}

SAMPLES = {"decision_id": "no-such-decision", "hold_id": "000000000000", "ruleset_id": "retail_card", "version": "1",
           "schema_id": "retail_card", "key_id": "000000000000", "name": "swagger-ui.css", "filename": "x",
           "simulation_id": "no-such-simulation", "task_id": "no-such-task"}


def endpoints(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console."):
            continue  # the console signs people in with sessions: tests/console
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: SAMPLES[m.group(1)], rule.rule)
            yield method, rule.rule, path


def call(client, method, path, headers):
    kwargs = {"json": {}} if method in ("POST", "PUT") else {}
    response = client.open(path, method=method, headers=headers, **kwargs)
    response.get_data()
    response.close()  # the docs' files are streamed
    return response


def test_every_endpoint_has_a_row_and_declares_those_roles(app):
    from app.api import auth

    seen = set()
    with app.test_request_context():
        for method, rule, _ in endpoints(app):
            seen.add((method, rule))
            assert (method, rule) in EXPECTED, f"{method} {rule}: no access row; add one and declare its roles"
            endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == rule and method in r.methods)
            declared = auth.roles_of(endpoint)
            want = EXPECTED[(method, rule)]
            assert declared == (auth.PUBLIC if want == PUBLIC else frozenset(want)), (method, rule)
    assert seen == set(EXPECTED)


def test_no_key_is_401_on_every_protected_endpoint(anonymous, app):
    for method, rule, path in endpoints(app):
        response = call(anonymous, method, path, {})
        if EXPECTED[(method, rule)] == PUBLIC:
            assert response.status_code not in (401, 403), (method, path)
        else:
            assert_envelope(response, 401, "unauthenticated")


@pytest.mark.parametrize("header", ["Bearer", "Bearer vgl_nonsense", "Basic YWRtaW46YWRtaW4=", "vgl_abc",
                                    "Bearer vgl_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_bad_keys_are_401(anonymous, header):
    assert_envelope(anonymous.get("/v1/rulesets", headers={"Authorization": header}), 401, "unauthenticated")


@pytest.mark.parametrize("role", sorted(ALL))
def test_each_role_is_refused_where_it_should_be(app, api_keys, role):
    client = app.test_client()
    for method, rule, path in endpoints(app):
        allowed = EXPECTED[(method, rule)]
        response = call(client, method, path, bearer(api_keys[role]))
        if allowed == PUBLIC or role in allowed or role == "admin":
            assert response.status_code not in (401, 403) or response.get_json()["error"]["reason"] == "four_eyes", \
                (role, method, path, response.data)
        else:
            assert_envelope(response, 403, "forbidden")


def test_a_revoked_key_is_refused_from_the_next_request(client, anonymous):
    created = client.post("/v1/keys", json={"name": "tmp", "owner": "tim", "roles": ["audit"]})
    assert created.status_code == 201
    key = created.get_json()["key"]
    assert anonymous.get("/v1/audit-events", headers=bearer(key)).status_code == 200
    revoked = client.post(f"/v1/keys/{created.get_json()['key_id']}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["active"] is False
    assert_envelope(anonymous.get("/v1/audit-events", headers=bearer(key)), 401, "unauthenticated")


def test_admin_key_endpoints_show_the_secret_once(client):
    created = client.post("/v1/keys", json={"name": "card-system", "owner": "card-platform", "roles": ["decide"]})
    body = created.get_json()
    assert created.status_code == 201 and body["key"].startswith(f"vgl_{body['key_id']}_")
    assert body["roles"] == ["decide"] and body["created_by"] == "ada.admin"
    listed = client.get("/v1/keys")
    assert body["key_id"] in {k["key_id"] for k in listed.get_json()["keys"]}
    assert body["key"].split("_", 2)[2] not in listed.data.decode()
    assert_envelope(client.post("/v1/keys", json={"name": "x", "owner": "y", "roles": ["root"]}),
                    422, "validation_error")
    assert_envelope(client.post("/v1/keys/000000000000/revoke"), 404, "key_not_found")
    events = client.get(f"/v1/audit-events?target=key:{body['key_id']}").get_json()["events"]
    assert [(e["action"], e["actor"]) for e in events] == [("key.create", "ada.admin")]


def test_a_name_an_active_key_has_is_refused(client):
    created = client.post("/v1/keys", json={"name": "card-system", "owner": "card-platform", "roles": ["decide"]})
    assert created.status_code == 201
    count = len(client.get("/v1/keys").get_json()["keys"])
    again = client.post("/v1/keys", json={"name": "card-system", "owner": "someone", "roles": ["admin"]})
    body = assert_envelope(again, 409, "key_name_taken")
    assert created.get_json()["key_id"] in body["error"]["message"]
    assert body["error"]["details"][0]["path"] == "name"
    assert len(client.get("/v1/keys").get_json()["keys"]) == count


def test_the_openapi_document_shows_who_may_call_what(client, app):
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    for method, rule, _ in endpoints(app):
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
        operation = spec["paths"].get(path, {}).get(method.lower())
        if operation is None:
            assert EXPECTED[(method, rule)] == PUBLIC  # the docs and spec themselves
            continue
        if EXPECTED[(method, rule)] == PUBLIC:
            assert operation["security"] == [], path
        else:
            assert operation["security"] == [{"bearerAuth": []}], path
            assert set(operation["x-roles"]) == EXPECTED[(method, rule)] | {"admin"}, path
            assert {"401", "403"} <= set(operation["responses"]), path
            assert "Roles:" in operation["description"]
