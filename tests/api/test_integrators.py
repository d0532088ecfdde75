"""What an integrator meets: typed snapshot contracts in /openapi.json that follow what is
published, and errors that say what to fix."""
from __future__ import annotations

import yaml

from tests.api.test_errors import assert_envelope
from tests.conftest import ROOT, decision_request
from tests.policies import RETAIL, RETAIL_SCENARIOS, draft_body


def test_openapi_describes_each_ruleset_s_snapshot_and_request(anonymous):
    spec = anonymous.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    card = schemas["RetailCardSnapshot"]
    assert card["required"] == ["customer", "card", "credit_report"] and card["additionalProperties"] is False
    utilization = card["properties"]["card"]["properties"]["utilization"]
    assert utilization["format"] == "decimal" and utilization["x-maximum"] == "1000000"
    assert utilization["x-plausible"] == {"max": "2"}
    assert card["properties"]["customer"]["properties"]["segment"]["enum"] == ["mass", "affluent", "private_banking"]
    assert card["properties"]["customer"]["properties"]["monthly_income"]["x-personal"] is True
    assert card["properties"]["credit_report"]["properties"]["as_of"]["format"] == "date"
    dpd = card["properties"]["card"]["properties"]["dpd"]
    assert (dpd["type"], dpd["minimum"], dpd["maximum"]) == ("integer", 0, 3650)
    request = schemas["RetailCardDecisionRequest"]
    assert request["properties"]["ruleset_id"]["enum"] == ["retail_card"]
    assert request["properties"]["snapshot"] == {"$ref": "#/components/schemas/RetailCardSnapshot"}
    body = spec["paths"]["/v1/decisions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["mapping"] == {
        rid: f"#/components/schemas/{name}DecisionRequest"
        for rid, name in (("personal_loan", "PersonalLoan"), ("retail_card", "RetailCard"), ("sme_loan", "SmeLoan"))}
    assert schemas["BatchRequest"]["properties"]["items"]["items"] == body
    html = spec["paths"]["/v1/simulations/{simulation_id}/report.html"]["get"]["responses"]["200"]["content"]
    assert list(html) == ["text/html"]
    search = {p["name"]: p for p in spec["paths"]["/v1/decisions"]["get"]["parameters"]}
    assert "time zone" in search["from"]["description"] and "time zone" in search["to"]["description"]


def test_openapi_follows_a_newly_published_contract(anonymous, as_role):
    author, approver = as_role("author"), as_role("approve")
    contract = yaml.safe_load((ROOT / "schemas" / "retail_card.v3.yaml").read_text())
    contract["fields"]["card"]["fields"]["autopay"] = {"type": "boolean", "description": "Pays by direct debit."}
    created = author.post("/v1/schemas/retail_card/versions", json={"document": contract})
    assert created.status_code == 201
    version = created.get_json()["version"]
    assert author.post(f"/v1/schemas/retail_card/versions/{version}/submit").status_code == 200
    for step in ("approve", "publish"):
        assert approver.post(f"/v1/schemas/retail_card/versions/{version}/{step}").status_code == 200, step
    policy = RETAIL.replace("contract: retail_card@3", f"contract: retail_card@{version}")
    assert author.post("/v1/rulesets/retail_card/versions", data=draft_body(policy, RETAIL_SCENARIOS),
                       content_type="application/json").status_code == 201
    assert "autopay" not in anonymous.get("/openapi.json").get_json()["components"]["schemas"][
        "RetailCardSnapshot"]["properties"]["card"]["properties"]
    for step, client in (("submit", author), ("approve", approver), ("publish", approver)):
        assert client.post(f"/v1/rulesets/retail_card/versions/2/{step}").status_code in (200, 201), step
    card = anonymous.get("/openapi.json").get_json()["components"]["schemas"]["RetailCardSnapshot"]
    assert card["properties"]["card"]["properties"]["autopay"] == {"type": "boolean",
                                                                   "description": "Pays by direct debit."}
    assert f"retail_card@{version}" in card["description"]


def test_403_names_the_roles_needed_and_held(as_role):
    body = assert_envelope(as_role("decide").get("/v1/keys"), 403, "forbidden")
    assert body["error"]["message"] == "This endpoint needs the role admin; this API key has decide."
    body = assert_envelope(as_role("audit").post("/v1/decisions", json=decision_request()), 403, "forbidden")
    assert body["error"]["message"] == "This endpoint needs the role decide or admin; this API key has audit."
    assert body["error"]["details"][0]["needed"] == ["decide", "admin"]
    assert body["error"]["details"][0]["held"] == ["audit"]


def test_malformed_json_says_where(client):
    r = client.post("/v1/decisions", data='{"ruleset_id": "retail_card",\n "customer_id": "C-1",,}',
                    content_type="application/json")
    body = assert_envelope(r, 400, "malformed_json")
    assert body["error"]["message"] == ("The request body is not valid JSON: Expecting property name enclosed in "
                                        "double quotes at line 2, column 23.")
    assert body["error"]["details"][0]["line"] == 2 and body["error"]["details"][0]["column"] == 23


def test_an_unknown_ruleset_id_suggests_the_closest(client):
    body = assert_envelope(client.post("/v1/decisions", json=decision_request(ruleset_id="retail_cards")),
                           404, "ruleset_not_found")
    assert body["error"]["message"] == "no ruleset 'retail_cards' is loaded; did you mean 'retail_card'?"
    body = assert_envelope(client.post("/v1/decisions", json=decision_request(ruleset_id="mortgage")),
                           404, "ruleset_not_found")
    assert body["error"]["message"].endswith("the rulesets are personal_loan, retail_card, sme_loan")


def test_the_root_points_to_the_docs(anonymous):
    r = anonymous.get("/")
    assert r.status_code == 200
    body = r.get_json()
    assert body["docs"] == "/docs" and body["openapi"] == "/openapi.json" and body["console"] == "/console"
    assert anonymous.get(body["docs"]).status_code == 200


def test_search_times_without_a_time_zone_say_so(client):
    body = assert_envelope(client.get("/v1/decisions?from=2026-04-01"), 422, "validation_error")
    [detail] = body["error"]["details"]
    assert detail["path"] == "query.from" and "time zone" in detail["message"] and "2026-04-01T00:00:00Z" in detail["message"]
