"""A draft beyond the fixed limits of durable_rules is refused when it is written, with
the limit named, so no worker ever tries to load it (512 rules used to hang every worker
on approval; 65 rules firing together gave error 303)."""

import json

import pytest
import yaml

from tests.api.test_errors import assert_envelope
from tests.policies import RETAIL


@pytest.mark.parametrize("extra", [600, 70])
def test_a_draft_beyond_durable_rules_limits_is_refused_naming_the_limit(client, extra):
    doc = yaml.safe_load(RETAIL)
    doc["rules"] += [{"id": f"BIG-{i:03d}", "title": f"Days past due at least {i}", "priority": 5,
                      "when": f"card.dpd >= {i + 1}", "review": "monthly"} for i in range(extra)]
    response = client.post("/v1/rulesets/retail_card/versions", data=json.dumps({"document": doc}),
                           content_type="application/json")
    body = assert_envelope(response, 422, "ruleset_invalid")
    assert any("durable_rules" in d["message"] and "64" in d["message"] for d in body["error"]["details"])
    assert client.get("/v1/rulesets/retail_card/versions").get_json()["versions"][-1]["version"] == 1
