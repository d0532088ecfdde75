import os
import re

from app.api.operations import CLEAR_NOTE
from tests.conftest import clean_snapshot, decision_request


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


def test_readyz(client, app):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ready", "rulesets": len(app.extensions["vigil.library"].rulesets()), "failed": [],
                            "personal_fields": "clear", "notes": [CLEAR_NOTE]}


def test_readyz_not_ready_without_the_log(client, db_path):
    os.remove(db_path)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def _fill_up(app, writer: bool = False) -> None:
    """Make the log full for the connection the test client's requests use (the test
    thread's), and with ``writer`` for the one decisions are written with (the group
    commit's): SQLite may not add a page to it. A failed request drops that connection,
    so this is done again before each request that should find the log full."""
    from app.api.database import get_db

    with app.app_context():
        connections = [get_db()]
        if writer:
            connections.append(app.extensions["vigil.group_commit"].connection())
        for db in connections:
            [pages] = db.execute("PRAGMA page_count").fetchone()
            db.execute(f"PRAGMA max_page_count = {pages}")


def test_readyz_not_ready_when_the_log_is_full(app, client, db_path):
    import sqlite3

    conn = sqlite3.connect(db_path)
    conn.execute("VACUUM")  # no free pages left inside the file either
    conn.close()
    _fill_up(app, writer=True)
    refused = client.post("/v1/decisions", json=decision_request())
    assert refused.status_code == 503 and b"decision_id" not in refused.data
    _fill_up(app)
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.get_json()
    assert ready.get_json()["error"]["reason"] == "decision_log_unavailable"
    assert "full" in ready.get_json()["error"]["message"]
    # The probe wrote nothing: once there is room again, ready, and the decision is made.
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/decisions", json=decision_request()).status_code == 201
    conn = sqlite3.connect(db_path)
    assert [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%probe%'")] == []
    conn.close()


def test_readyz_not_ready_when_the_disk_is_nearly_full(app, client, monkeypatch):
    from app.store import db as store_db

    free = os.statvfs(os.path.dirname(app.config["VIGIL_DATABASE"]))
    free_bytes = free.f_bavail * free.f_frsize
    assert client.get("/readyz").status_code == 200
    # A disk cannot be filled here; ask for more headroom than this one has instead.
    monkeypatch.setattr(store_db, "DISK_HEADROOM", free_bytes + (1 << 30))
    assert client.get("/readyz").status_code == 503


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
