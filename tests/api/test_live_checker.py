"""Authors' rulesets cannot take the service down: under gunicorn, a hostile draft is
refused by its checker's budget while health checks and decisions answer, and a
published version that cannot be loaded leaves every other version served and is named
by /readyz and the start-up log."""

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import yaml

from app.store import times
from tests.conftest import decision_request
from tests.policies import RETAIL, RETAIL_SCENARIOS

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


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (started from any of its threads)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def test_hostile_drafts_are_refused_while_health_checks_and_decisions_answer(make_server):
    # A draft of 500,000 empty rules (2 MiB) and one with 20,000 scenarios used to be
    # checked in the worker's own thread: seconds of CPU and hundreds of MB each, and
    # the scenarios ran for as long as they took.
    server = make_server(workers=2, env={"VIGIL_CHECK_CPU_SECONDS": "2"})
    server.migrate()
    server.start()
    workers = server.worker_pids()
    checkers = set().union(*(_children(pid) for pid in workers))
    assert len(checkers) == 2, checkers  # one started in advance in each worker
    author = server.create_key("author", owner="alice.author")
    answered: list[tuple[str, int, float]] = []
    stop = threading.Event()

    def keep_asking():
        n = 0
        while not stop.is_set():
            for path, body in (("/healthz", None), ("/v1/decisions", decision_request(customer_id=f"C-{n}"))):
                started = time.monotonic()
                status, _, _ = server.request("POST" if body else "GET", path, body)
                answered.append((path, status, time.monotonic() - started))
            n += 1
            time.sleep(0.02)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        huge = yaml.safe_load(RETAIL)
        huge["rules"] = [{}] * 500_000
        started = time.monotonic()
        status, _, body = server.request("POST", "/v1/rulesets/retail_card/versions", {"document": huge}, key=author)
        error = json.loads(body)["error"]
        assert status == 422 and error["reason"] == "check_budget_exceeded", error
        assert error["details"][0]["budget"] == "memory"
        assert time.monotonic() - started < 30

        tests = yaml.safe_load(RETAIL_SCENARIOS)
        tests["scenarios"] = [{"name": f"s{i}", "base": "clean", "expect": {"level": "green"}} for i in range(20_000)]
        status, _, body = server.request("POST", "/v1/rulesets/retail_card/versions",
                                         {"document": yaml.safe_load(RETAIL), "scenarios": tests}, key=author)
        assert status == 201, body
        version = json.loads(body)["version"]
        started = time.monotonic()
        status, _, body = server.request("POST", f"/v1/rulesets/retail_card/versions/{version}/submit", key=author)
        error = json.loads(body)["error"]
        assert status == 422 and error["reason"] == "check_budget_exceeded", error
        assert error["details"][0]["budget"] == "cpu"
        assert time.monotonic() - started < 30
        status, _, body = server.request("GET", f"/v1/rulesets/retail_card/versions/{version}", key=author)
        assert json.loads(body)["status"] == "draft"
        versions = json.loads(server.request("GET", "/v1/rulesets/retail_card/versions", key=author)[2])["versions"]
        assert [v["version"] for v in versions] == [1, version]  # the huge draft was not stored
    finally:
        stop.set()
        asker.join()
    health = [(status, took) for path, status, took in answered if path == "/healthz"]
    decisions = [(status, took) for path, status, took in answered if path == "/v1/decisions"]
    assert len(health) >= 5 and all(status == 200 for status, _ in health)
    assert all(status == 201 for status, _ in decisions)
    assert max(took for _, took in health + decisions) < 5, sorted(took for _, took in health + decisions)[-5:]
    # The checkers the kernel or the pool stopped were replaced; all go with the server.
    now = set().union(*(_children(pid) for pid in server.worker_pids()))
    assert len(now) == 2 and now != checkers
    server.stop()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in now | checkers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in now | checkers)
