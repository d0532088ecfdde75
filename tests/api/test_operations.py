import os
import re

from tests.conftest import clean_snapshot, decision_request


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


def test_readyz(client, app):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ready", "rulesets": len(app.extensions["vigil.library"].rulesets())}


def test_readyz_not_ready_without_the_log(client, db_path):
    os.remove(db_path)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_decisions_latency_and_errors(client):
    client.post("/v1/decisions", json=decision_request(clean_snapshot()))  # no action
    client.post("/v1/decisions", json=decision_request())
    client.post("/v1/decisions", json=decision_request())
    client.post("/v1/decisions", json=decision_request(ruleset_id="nope"))
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.data.decode()
    # Two decisions, each with two final actions: two decisions, and two of each action.
    assert sample(text, "vigil_decisions_total", ruleset="retail_card", level="orange") == 2
    assert sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vigil_decisions_total{")) == 3
    assert sample(text, "vigil_decisions_total", action="reduce_limit") is None
    assert sample(text, "vigil_actions_total", ruleset="retail_card", action="reduce_limit", level="orange") == 2
    assert sample(text, "vigil_actions_total", ruleset="retail_card", action="contact_customer",
                  level="orange") == 2
    assert sample(text, "vigil_request_duration_seconds_count", endpoint="/v1/decisions") == 4
    assert sample(text, "vigil_request_duration_seconds_bucket", endpoint="/v1/decisions", le="+Inf") == 4
    assert sample(text, "vigil_errors_total", reason="ruleset_not_found") == 1
    assert "_created" not in text
