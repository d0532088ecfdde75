"""schemathesis against /openapi.json: no server error, and every response matches the
documented schema, status codes and content types.

Each operation runs the documented examples (so real decisions are checked, not only
422s for random snapshots), then positive and negative fuzzing, then fuzzing with path
parameters that exist. The operations are driven with hypothesis directly, since
schemathesis' pytest plugin does not load under this pytest version."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis import GenerationMode

from app import create_app, store
from tests.conftest import decision_request

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]
OPERATIONS = [
    "POST /v1/decisions",
    "POST /v1/decisions/batch",
    "GET /v1/decisions/{decision_id}",
    "GET /v1/rulesets",
    "GET /v1/rulesets/{ruleset_id}",
    "GET /v1/schemas",
    "GET /v1/schemas/{schema_id}",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fuzz") / "vigil.db")
    store.migrate(store.create(path))
    return create_app({"VIGIL_DATABASE": path, "VIGIL_REQUIRE_RULESETS": True})


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def existing(fuzz_app):
    """Path parameters that name things that exist."""
    client = fuzz_app.test_client()
    decision_id = client.post("/v1/decisions", json=decision_request(explain="full")).get_json()["decision_id"]
    return {"decision_id": decision_id, "ruleset_id": "retail_card", "schema_id": "retail_card"}


def operation(api_schema, label):
    [op] = [r.ok() for r in api_schema.get_all_operations() if r.ok().label == label]
    return op


def test_every_operation_is_fuzzed(api_schema):
    assert {r.ok().label for r in api_schema.get_all_operations()} == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_answers_as_documented(api_schema, existing, label):
    op = operation(api_schema, label)
    strategies = list(op.get_strategies_from_examples())
    strategies += [op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)]
    params = {p.name: existing[p.name] for p in op.iter_parameters() if p.location == "path"}
    if params:
        strategies.append(op.as_strategy(path_parameters=params))
    seen: list[int] = []

    @given(case=st.one_of(strategies))
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call_and_validate(checks=CHECKS)
        seen.append(response.status_code)

    run()
    # A success must have been answered and checked, not only errors.
    assert any(200 <= status < 300 for status in seen), seen

