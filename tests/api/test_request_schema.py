"""A decision request's shortcut (DecisionRequestSchema.load takes a request that
plainly fits without walking its fields) gives what the fields give, and leaves every
request the fields would refuse to them."""

from decimal import Decimal

from hypothesis import given, settings, strategies as st
from marshmallow import Schema, ValidationError

from app.api.schemas import DecisionRequestSchema, plain_decision_request

schema = DecisionRequestSchema()


def by_fields(data):
    """What the fields alone make of ``data`` (marshmallow's own load)."""
    return Schema.load(schema, data)


names = st.one_of(st.text(max_size=130), st.sampled_from(["", "x" * 128, "x" * 129, "retail_card"]))
values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.decimals(allow_nan=False, places=2),
                   st.floats(allow_nan=False), names, st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
keys = st.sampled_from(["ruleset_id", "customer_id", "snapshot", "ruleset_version", "client_request_id",
                        "explain", "other"])
field_values = {
    "ruleset_id": st.one_of(names, values),
    "customer_id": st.one_of(names, values),
    "snapshot": st.one_of(st.dictionaries(st.text(max_size=4), st.integers(), max_size=3), values),
    "ruleset_version": st.one_of(st.integers(-2, 5), st.booleans(), st.just(Decimal("1.0")), values),
    "client_request_id": st.one_of(names, values),
    "explain": st.one_of(st.sampled_from(["summary", "full", "Full", ""]), values),
    "other": values,
}


@st.composite
def requests(draw):
    chosen = draw(st.sets(keys, max_size=7))
    if draw(st.booleans()):
        chosen |= {"ruleset_id", "customer_id", "snapshot"}
    return {key: draw(field_values[key]) for key in chosen}


@settings(max_examples=600, deadline=None)
@given(requests())
def test_the_shortcut_agrees_with_the_fields(data):
    fast = plain_decision_request(data)
    try:
        loaded = by_fields(data)
    except ValidationError:
        assert fast is None
        return
    if fast is not None:
        assert fast == loaded
    assert schema.load(data) == loaded


def test_a_plain_request_takes_the_shortcut_and_gets_the_default_explain():
    data = {"ruleset_id": "retail_card", "customer_id": "C-1", "snapshot": {"a": 1}}
    assert plain_decision_request(data) == {**data, "explain": "summary"}
    assert schema.load(data) == by_fields(data)


def test_what_the_shortcut_leaves_is_refused_by_the_fields_with_their_messages():
    data = {"ruleset_id": "retail_card", "customer_id": "", "snapshot": {}, "ruleset_version": True,
            "colour": "red"}
    assert plain_decision_request(data) is None
    try:
        schema.load(data)
    except ValidationError as exc:
        assert set(exc.messages) == {"customer_id", "ruleset_version", "colour"}
    else:
        raise AssertionError("the request was accepted")
