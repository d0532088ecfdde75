def test_list_rulesets(client):
    body = client.get("/v1/rulesets").get_json()
    ids = {(r["id"], r["version"]) for r in body["rulesets"]}
    assert ("retail_card", 1) in ids
    retail = next(r for r in body["rulesets"] if r["id"] == "retail_card")
    assert retail["hash"].startswith("sha256:")
    assert retail["contract"]["id"] == "retail_card"
    assert retail["title"] and retail["owner"]


def test_ruleset_detail_matches_what_decisions_use(client, app):
    body = client.get("/v1/rulesets/retail_card").get_json()
    ruleset = app.extensions["vigil.library"].ruleset("retail_card")
    assert body["hash"] == ruleset.hash and body["version"] == ruleset.version
    assert body["versions"] == [ruleset.version]
    assert body["definition"] == ruleset.describe()
    pinned = client.get(f"/v1/rulesets/retail_card?version={ruleset.version}").get_json()
    assert pinned == body


def test_list_and_fetch_schemas(client, app):
    listed = client.get("/v1/schemas").get_json()["schemas"]
    assert "retail_card" in {s["id"] for s in listed}
    body = client.get("/v1/schemas/retail_card").get_json()
    contract = app.extensions["vigil.library"].contract("retail_card")
    assert body["definition"] == contract.describe()
    assert body["personal_paths"] == list(contract.personal_paths())
    assert "customer.id" in body["personal_paths"]
