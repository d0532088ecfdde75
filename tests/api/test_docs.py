"""The OpenAPI document and the docs page, which must work with no internet."""

import re


def test_openapi_document(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ("/v1/decisions", "/v1/decisions/batch", "/v1/decisions/{decision_id}", "/v1/rulesets",
                 "/v1/rulesets/{ruleset_id}", "/v1/schemas/{schema_id}", "/healthz", "/readyz", "/metrics"):
        assert path in paths
    post = paths["/v1/decisions"]["post"]
    assert {"201", "200", "400", "404", "409", "413", "415", "422", "503"} <= set(post["responses"])
    envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) == {"error", "request_id"}
    batch_items = spec["components"]["schemas"]["BatchRequest"]["properties"]["items"]["items"]
    # one typed request per ruleset in effect (app/api/openapi.py), like POST /v1/decisions
    assert batch_items["oneOf"] == post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {"$ref": "#/components/schemas/RetailCardDecisionRequest"} in batch_items["oneOf"]


def test_docs_page_loads_only_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.data.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'url: "([^"]+)"', html)
    assert urls, html
    for url in urls:
        assert url.startswith("/"), f"docs page loads {url} from outside the service"
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            assert len(asset.data) > 100
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", html)


def test_only_the_docs_assets_are_served(client):
    assert client.get("/docs/assets/index.html").status_code == 404
    assert client.get("/docs/assets/..%2F..%2F__init__.py").status_code == 404
