"""A number no field can hold is a 422 naming where it is, before any arithmetic: never
a 500, and never minutes of CPU (``1e1000000`` as an integer is a million digits)."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

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
        # in a batch the item alone fails, naming the field in the item; the others are decided
        good = json.dumps(decision_request()).encode()
        response = client.post(endpoint, data=b'{"items": [' + data + b", " + good + b"]}",
                               content_type="application/json")
        assert response.status_code == 200, response.data
        bad, decided = response.get_json()["results"]
        assert (bad["status"], bad["error"]["reason"], decided["status"]) == (422, "validation_error", 200)
        [detail] = bad["error"]["details"]
    else:
        body = assert_envelope(client.post(endpoint, data=data, content_type="application/json"),
                               422, "validation_error")
        [detail] = body["error"]["details"]
    assert detail["path"] == ".".join(path) and "out of range" in detail["message"]


# The body's numbers are walked only when its text could hold one out of bounds
# (parsing._RISKY_NUMBER): every number the walk would refuse is one the text shows.
_numbers = st.one_of(
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal("-1e30"), max_value=Decimal("1e30"), places=30),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_numbers, min_size=1, max_size=4))
def test_a_body_whose_text_shows_no_risky_number_holds_none(numbers):
    from app.api import parsing
    from app.core.bounds import find_unbounded

    def written(n):
        if isinstance(n, float):
            return repr(n)
        if isinstance(n, Decimal):
            return format(n, "f") if n.adjusted() < 60 else str(n)  # plain, as most clients write it
        return str(n)

    text = "[" + ",".join(written(n) for n in numbers) + "]"
    try:
        document = json.loads(text, parse_float=Decimal)
    except ValueError:
        return  # not JSON as written (Decimal's "NaN"-like or "E" forms a test cannot send)
    if find_unbounded(document):
        assert parsing._RISKY_NUMBER.search(text), text
