"""A record's hashes are evidence: the bytes hashed for each column, and so every hash
of the decision log and the audit events, must stay what they were when the record
was logged, however the code that computes them changes."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.store import chain, hashing

ROW = {"id": "d-1", "decided_at": "2026-04-01T06:00:00.000000Z", "ruleset_id": "retail_card", "ruleset_version": 3,
       "ruleset_hash": "sha256:h", "level": "orange", "review_frequency": None, "masked": None,
       "semantics_version": 2, "customer_id": "C-é\u2028", "client_request_id": None, "request_hash": "",
       "snapshot": '{"a":"8000.00"}', "result": "{}", "trail": "[]", "response": '{"decision_id":"d-1"}'}


def test_a_record_hashes_to_the_value_it_always_had():
    # Worked out when the format was fixed; a change here would break every log kept.
    assert chain.record_hash(ROW) == "6a8b28cae7d52e012487e608ee18d7b5ec690380f00badb0ae310d539e8ac509"
    assert chain.record_hash({**ROW, "semantics_version": None}) == \
        "205a1563cfd4c5597c9285a1e314d67ee5c7dc4a907ab303eba313a86a1f9ef6"
    assert hashing.digest(b"f", ["x\ud800", -7, 2**70, 1.25, None, b"\xff", bytearray(b"\x00")]) == \
        "2984efad591253cab70295b7577e5b03259189381eeb8c4ec4bfcbf5f6eda4d1"


def _documented(value) -> bytes:
    """The encoding of one column as the format states it."""
    if value is None:
        return b"n;"
    if isinstance(value, int):
        return b"i" + str(value).encode() + b";"
    if isinstance(value, float):
        return b"f" + repr(value).encode() + b";"
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
    return b"s" + str(len(data)).encode() + b":" + data + b";"


class _Text(str):
    pass


@given(st.lists(st.none() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
                | st.text().map(_Text)))
def test_each_column_is_hashed_as_the_format_states(values):
    assert [hashing.field(v) for v in values] == [_documented(v) for v in values]
    import hashlib
    assert hashing.digest(b"fmt", values) == hashlib.sha256(b"fmt" + b"".join(map(_documented, values))).hexdigest()


def test_a_boolean_is_never_hashed_as_an_integer():
    import pytest

    with pytest.raises(TypeError):
        hashing.field(True)
