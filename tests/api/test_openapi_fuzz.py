"""schemathesis against /openapi.json: no server error, and every response matches the
documented schema, status codes and content types. The document lists every status an
operation answers (there is no catch-all "default" response), so an undocumented status
fails here.

Each operation runs the documented examples (so real decisions are checked, not only
422s for random snapshots), then positive and negative fuzzing, then fuzzing with path
parameters that exist, with a real API key of a role the operation documents in
`x-roles` (the least one: `decide` before `audit`, `legal`, `author`, `approve`; `admin` only for
the operations only admin may call). The examples are derandomized and their number per
operation fixed, so every run tries the same cases, in about half a minute. The
operations are driven with hypothesis directly, since schemathesis' pytest plugin does
not load under this pytest version."""

import shutil
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis import GenerationMode

from app import create_app, store
from app.store import keys, retention
from app.store.audit import Actor
from tests.conftest import bearer, decision_request

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.negative_data_rejection,
]
# The least role first: a key of the first of these an operation allows calls it.
ROLE_PREFERENCE = ("decide", "audit", "legal", "author", "approve", "admin")
EXAMPLES_PER_OPERATION = 60
OPERATIONS = [
    "POST /v1/decisions",
    "POST /v1/decisions/batch",
    "GET /v1/decisions/{decision_id}",
    "GET /v1/decisions",
    "GET /v1/decisions/export",
    "GET /v1/decisions/head",
    "GET /v1/decisions/verify",
    "GET /v1/decisions/{decision_id}/explanation",
    "POST /v1/decisions/{decision_id}/replay",
    "POST /v1/legal-holds",
    "GET /v1/legal-holds",
    "POST /v1/legal-holds/{hold_id}/release",
    "GET /v1/follow-up/report",
    "GET /v1/follow-up/report/export",
    "GET /v1/rulesets",
    "GET /v1/rulesets/{ruleset_id}",
    "GET /v1/rulesets/{ruleset_id}/versions",
    "POST /v1/rulesets/{ruleset_id}/versions",
    "GET /v1/rulesets/{ruleset_id}/versions/{version}",
    "PUT /v1/rulesets/{ruleset_id}/versions/{version}",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/submit",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/approve",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/reject",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/publish",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/retire",
    "POST /v1/rulesets/{ruleset_id}/rollback",
    "GET /v1/rulesets/{ruleset_id}/publications",
    "GET /v1/rulesets/{ruleset_id}/diff",
    "GET /v1/schemas",
    "GET /v1/schemas/{schema_id}",
    "POST /v1/schemas/{schema_id}/versions",
    "GET /v1/schemas/{schema_id}/versions",
    "GET /v1/schemas/{schema_id}/versions/{version}",
    "POST /v1/schemas/{schema_id}/versions/{version}/submit",
    "POST /v1/schemas/{schema_id}/versions/{version}/approve",
    "POST /v1/schemas/{schema_id}/versions/{version}/reject",
    "POST /v1/schemas/{schema_id}/versions/{version}/publish",
    "POST /v1/schemas/{schema_id}/versions/{version}/retire",
    "GET /v1/audit-events",
    "POST /v1/keys",
    "GET /v1/keys",
    "PUT /v1/keys/{key_id}/queues",  # before the spare key is revoked
    "POST /v1/keys/{key_id}/revoke",
    "POST /v1/simulations",
    "GET /v1/simulations/{simulation_id}",
    "GET /v1/simulations/{simulation_id}/report.html",
    "GET /v1/tasks",
    "GET /v1/tasks/{task_id}",
    "POST /v1/tasks/{task_id}/claim",
    "POST /v1/tasks/{task_id}/hand-on",
    "POST /v1/tasks/{task_id}/waiver",
    "POST /v1/tasks/{task_id}/complete",
    "POST /v1/tasks/{task_id}/waiver/approve",
    "GET /",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
]
PER_ITEM = {"POST /v1/decisions/batch"}
# Lifecycle steps on the published version 1 are refused whatever the body (it is
# already in effect, not a draft, not submitted): these are checked for answering as
# documented, without a success.
NO_SUCCESS = {
    "PUT /v1/rulesets/{ruleset_id}/versions/{version}",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/submit",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/approve",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/reject",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/publish",
    "POST /v1/rulesets/{ruleset_id}/versions/{version}/retire",
    "POST /v1/rulesets/{ruleset_id}/rollback",
    "POST /v1/schemas/{schema_id}/versions",
    "POST /v1/schemas/{schema_id}/versions/{version}/submit",
    "POST /v1/schemas/{schema_id}/versions/{version}/approve",
    "POST /v1/schemas/{schema_id}/versions/{version}/reject",
    "POST /v1/schemas/{schema_id}/versions/{version}/publish",
    # The example's contact date is fixed, before the task was opened; the waiver was
    # asked for by the admin key's owner, who may not approve it (four eyes).
    "POST /v1/tasks/{task_id}/complete",
    "POST /v1/tasks/{task_id}/waiver/approve",
}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, template_db):
    path = str(tmp_path_factory.mktemp("fuzz") / "vigil.db")
    shutil.copyfile(template_db[0], path)
    return create_app({"VIGIL_DATABASE": path, "VIGIL_REQUIRE_RULESETS": True})


@pytest.fixture(scope="module")
def admin_headers(template_db):
    return bearer(template_db[1]["admin"])


@pytest.fixture(scope="module")
def role_keys(template_db):
    return dict(template_db[1])


def role_for(op) -> str | None:
    """The least role the operation documents (None: a public operation)."""
    allowed = op.definition.raw.get("x-roles")
    if allowed is None:
        return None
    return next(role for role in ROLE_PREFERENCE if role in allowed)


@pytest.fixture(scope="module", autouse=True)
def cheap_keys():
    # Fuzzing POST /v1/keys makes many keys; the stored hash names its own cost, so a
    # cheaper scrypt here changes nothing else.
    saved = dict(keys._SCRYPT)
    keys._SCRYPT["n"] = 2 ** 8
    yield
    keys._SCRYPT.update(saved)


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def existing(fuzz_app, admin_headers):
    """Path parameters that name things that exist (a key of its own to revoke, a hold to release)."""
    client = fuzz_app.test_client()
    decision_id = client.post("/v1/decisions", json=decision_request(explain="full"),
                              headers=admin_headers).get_json()["decision_id"]
    db = store.connect(fuzz_app.config["VIGIL_DATABASE"])
    spare, _ = keys.create_key(db, name="spare", owner="nobody", roles=["officer"], actor=Actor("fuzz"))
    hold = retention.place_hold(db, "C-100001", "fuzz", Actor("fuzz"))  # released once, then 409
    db.close()
    simulation_id = client.post("/v1/simulations", headers=admin_headers, json={
        "ruleset_id": "retail_card", "candidate_version": 1, "snapshots": [decision_request()["snapshot"]]},
    ).get_json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v1/simulations/{simulation_id}", headers=admin_headers).get_json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    task_id = client.get("/v1/tasks", headers=admin_headers).get_json()["tasks"][0]["id"]  # the decision's
    return {"decision_id": decision_id, "ruleset_id": "retail_card", "schema_id": "retail_card", "version": 1,
            "key_id": spare.key_id, "hold_id": hold.hold_id, "simulation_id": simulation_id, "task_id": task_id}


def operation(api_schema, label):
    [op] = [r.ok() for r in api_schema.get_all_operations() if r.ok().label == label]
    return op


def with_path(case, params):
    if params:
        case.path_parameters = {**(case.path_parameters or {}), **params}
    return case


def test_every_operation_is_fuzzed(api_schema):
    assert {r.ok().label for r in api_schema.get_all_operations()} == set(OPERATIONS)


def test_no_operation_has_a_catch_all_response(api_schema):
    for result in api_schema.get_all_operations():
        assert "default" not in result.ok().definition.raw["responses"], result.ok().label


def test_each_operation_is_fuzzed_with_a_key_of_a_role_it_documents(api_schema):
    roles = {label: role_for(operation(api_schema, label)) for label in OPERATIONS}
    assert roles["POST /v1/decisions"] == "decide"
    assert roles["GET /v1/decisions"] == "audit"
    assert roles["POST /v1/rulesets/{ruleset_id}/versions"] == "author"
    assert roles["POST /v1/rulesets/{ruleset_id}/versions/{version}/approve"] == "approve"
    assert roles["GET /v1/rulesets"] == "decide"
    assert roles["POST /v1/legal-holds"] == "legal"
    assert roles["POST /v1/keys"] == "admin"
    assert roles["GET /healthz"] is None


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_answers_as_documented(api_schema, existing, role_keys, label):
    op = operation(api_schema, label)
    role = role_for(op)
    headers = bearer(role_keys[role]) if role else {}
    params = {p.name: existing[p.name] for p in op.iter_parameters() if p.location == "path"}
    # The documented examples, on things that exist.
    strategies = [s.map(lambda case: with_path(case, params)) for s in op.get_strategies_from_examples()]
    strategies += [op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)]
    if params:
        strategies.append(op.as_strategy(path_parameters=params))
    seen: list[int] = []
    # A batch answers 200 with an error per item that breaks the item schema, by design.
    checks = [c for c in CHECKS
              if not (label in PER_ITEM and c is schemathesis.checks.negative_data_rejection)]

    @given(case=st.one_of(strategies))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        # The key is set on the case, not only on the call, so that schemathesis knows a
        # negative case's bad Authorization header was replaced: it is the key that is sent.
        if headers:
            case.headers = {**(case.headers or {}), **headers}
        response = case.call_and_validate(checks=checks)
        seen.append(response.status_code)

    run()
    # A success must have been answered and checked, not only errors.
    if label not in NO_SUCCESS:
        assert any(200 <= status < 300 for status in seen), seen

