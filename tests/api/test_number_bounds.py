"""A number no field can hold is a 422 naming where it is, before any arithmetic: never
a 500, and never minutes of CPU (``1e1000000`` as an integer is a million digits)."""

import json

import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import decision_request


def body_with(path: list[str], raw_number: str) -> bytes:
    body = decision_request()
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "@NUMBER@"
    return json.dumps(body).replace('"@NUMBER@"', raw_number).encode()


@pytest.mark.parametrize("path,number", [
    (["snapshot", "card", "balance"], "12345678901234567890123456789.5"),
    (["snapshot", "card", "balance"], "123456789012345678901234567890.123"),
    (["snapshot", "card", "balance"], "1.00000000000000000000000000001"),
    (["snapshot", "card", "dpd"], "1e100000"),
    (["ruleset_version"], "1e1000000"),
])
@pytest.mark.parametrize("endpoint", ["/v1/decisions", "/v1/decisions/batch"])
def test_a_number_out_of_range_is_a_422_naming_it(client, path, number, endpoint):
    data = body_with(path, number)
    if endpoint.endswith("batch"):
        data = b'{"items": [' + data + b"]}"
    body = assert_envelope(client.post(endpoint, data=data, content_type="application/json"),
                           422, "validation_error")
    [detail] = body["error"]["details"]
    expected = ".".join(path) if endpoint == "/v1/decisions" else "items.0." + ".".join(path)
    assert detail["path"] == expected and "out of range" in detail["message"]
