"""Authors' rulesets cannot take the service down: under gunicorn, a published version
that cannot be loaded leaves every other version served and is named by /readyz and the
start-up log."""

import json
import sqlite3
import time

import pytest
import yaml

from app.store import times
from tests.conftest import decision_request
from tests.policies import RETAIL

pytestmark = pytest.mark.live


def publish_past_the_api(db_path: str, document: dict) -> None:
    """Store ``document`` as the next retail_card version and publish it, writing the rows
    as a database from an older engine could hold them (the API refuses such a draft)."""
    conn = sqlite3.connect(db_path)
    columns = [d[0] for d in conn.execute("SELECT * FROM ruleset_versions LIMIT 0").description]
    row = dict(zip(columns, conn.execute(
        "SELECT * FROM ruleset_versions WHERE ruleset_id = 'retail_card' AND version = 1").fetchone()))
    document = {**document, "version": 2}
    row.update(version=2, status="published", document=json.dumps(document))
    conn.execute(f"INSERT INTO ruleset_versions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                 list(row.values()))
    now = times.iso(times.now())
    conn.execute("INSERT INTO publications (ruleset_id, version, hash, kind, effective_at, published_by, "
                 "published_at) VALUES ('retail_card', 2, ?, 'publish', ?, 'old engine', ?)", [row["hash"], now, now])
    conn.commit()
    conn.close()


def six_hundred_rules() -> dict:
    doc = yaml.safe_load(RETAIL)
    doc["rules"] += [{"id": f"BIG-{i:03d}", "title": f"Days past due at least {i}", "priority": 5,
                      "when": f"card.dpd >= {i + 1}", "review": "monthly"} for i in range(600)]
    return doc


def test_a_published_version_that_cannot_load_leaves_the_others_served(make_server):
    # 512 rules or more used to hang every worker while loading, for good, and the
    # flask commands with them; now that version alone is refused.
    server = make_server(workers=2)
    server.migrate()
    publish_past_the_api(server.db_path, six_hundred_rules())
    started = time.monotonic()
    server.start()  # waits for /readyz to answer 200
    assert time.monotonic() - started < 30
    status, _, body = server.request("GET", "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["status"] == "degraded", ready
    assert [f["version"] for f in ready["failed"]] == ["ruleset:retail_card@2"]
    assert any("durable_rules" in p["message"] for p in ready["failed"][0]["problems"])
    status, _, body = server.request("POST", "/v1/decisions", decision_request())
    error = json.loads(body)["error"]
    assert status == 503 and error["reason"] == "ruleset_version_unavailable", error
    assert "Version 2 of ruleset retail_card" in error["message"]
    status, _, body = server.request("POST", "/v1/decisions", decision_request(ruleset_version=1))
    assert status == 201, body
    assert server.request("GET", "/healthz")[0] == 200
    assert "ruleset:retail_card@2 could not be loaded" in server.log()
    # The commands start on this database too.
    assert "retail_card@2" in server.flask("policies", "list")
