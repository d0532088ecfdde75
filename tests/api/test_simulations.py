"""Impact simulation over HTTP: a draft simulated in the background against the version
in effect, on inline snapshots and on the decision log; progress, the report, the HTML
page, who may ask, and bad requests in the envelope."""

import copy
import json
import time

import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import DELINQUENT_SNAPSHOT, clean_snapshot, decision_request
from tests.policies import act010_cut, draft_body


@pytest.fixture
def draft(as_role):
    """Version 2 of retail_card, a draft: ACT-010 cuts the limit by 35% instead of 30%."""
    response = as_role("author").post("/v1/rulesets/retail_card/versions", data=draft_body(*act010_cut(35)),
                                      content_type="application/json")
    assert response.status_code == 201, response.data
    assert response.get_json()["status"] == "draft"
    return response.get_json()["version"]


def snapshot(n: int, overdue: int, utilization: str) -> dict:
    snap = clean_snapshot(f"C-{n:06d}")
    snap["card"]["utilization"] = utilization
    snap["card"]["balance"] = f"{float(utilization) * 20000:.2f}"
    snap["credit_report"]["other_banks"].update(
        {"overdue_accounts_6m": overdue, "overdue_accounts_12m": overdue, "overdue_accounts_24m": overdue,
         "worst_dpd": 45 if overdue else 0})
    return snap


def grid() -> list[dict]:
    snaps, n = [], 0
    for overdue in (0, 1, 2, 3):
        for utilization in ("0.5000", "0.7900", "0.8000", "0.8100", "0.9500"):
            for _ in range(3):
                n += 1
                snaps.append(snapshot(n, overdue, utilization))
    return snaps


def affected(snaps: list[dict]) -> set[str]:
    """Whom ACT-010 reaches, from the values: two or more accounts overdue elsewhere in
    six months (or three in twelve) and the card more than 80% used."""
    out = set()
    for snap in snaps:
        other = snap["credit_report"]["other_banks"]
        delinquent = other["overdue_accounts_6m"] >= 2 or other["overdue_accounts_12m"] >= 3
        if delinquent and float(snap["card"]["utilization"]) > 0.80:
            out.add(snap["customer"]["id"])
    return out


def wait_done(client, simulation_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/simulations/{simulation_id}")
        assert response.status_code == 200, response.data
        body = response.get_json()
        if body["status"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_a_draft_simulated_on_inline_snapshots_reports_exactly_whom_it_changes(as_role, draft):
    author, approver = as_role("author"), as_role("approve")
    snaps = grid()
    expected = affected(snaps)
    assert 0 < len(expected) < len(snaps)

    response = author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                     "snapshots": snaps, "top": 3})
    assert response.status_code == 202, response.data
    accepted = response.get_json()
    assert accepted["status"] == "queued"
    assert accepted["links"] == {"self": f"/v1/simulations/{accepted['id']}",
                                 "report_html": f"/v1/simulations/{accepted['id']}/report.html"}

    # Another person with the approve role does not see it; its requester does, from any worker.
    assert_envelope(approver.get(f"/v1/simulations/{accepted['id']}"), 404, "simulation_not_found")
    body = wait_done(author, accepted["id"])
    assert body["status"] == "done", body
    assert body["progress"] == {"done": len(snaps), "total": len(snaps)}
    assert body["requested_by"] == "alice.author" and body["error"] is None
    assert body["params"]["baseline_version"] == 1 and body["params"]["candidate_version"] == draft
    report = body["report"]
    assert report["baseline"]["version"] == 1 and report["candidate"]["version"] == draft
    assert report["snapshots"] == len(snaps) and report["error_count"] == 0
    assert {c["customer_id"] for c in report["changed"]} == expected
    assert report["changed_count"] == len(expected)
    for change in report["changed"]:
        assert "reduce_limit(percent=30)" in change["before"]["actions"]
        assert "reduce_limit(percent=35)" in change["after"]["actions"]
        assert change["rules"] == ["ACT-010"]
    assert report["rule_edits"]["modified"] == ["ACT-010"]
    assert [r["rule"] for r in report["rules"]] == ["ACT-010"]
    assert len(report["top"]) == 3
    assert report["action_counts"]["reduce_limit"]["delta"] == 0

    page = author.get(f"/v1/simulations/{accepted['id']}/report.html")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "ACT-010" in html
    assert f"Customers whose outcome changes ({len(expected)})" in html

    events = as_role("audit").get(f"/v1/audit-events?target=simulation:{accepted['id']}").get_json()["events"]
    assert [(e["action"], e["actor"]) for e in events] == [("simulation.request", "alice.author")]
    assert events[0]["details"]["snapshots"] == len(snaps)


def test_a_simulation_on_the_decision_log_window(as_role, draft):
    loans = as_role("decide")
    for snap in (DELINQUENT_SNAPSHOT, clean_snapshot()):
        body = decision_request(copy.deepcopy(snap), customer_id=snap["customer"]["id"])
        assert loans.post("/v1/decisions", json=body).status_code == 201
    response = as_role("approve").post("/v1/simulations", json={
        "ruleset_id": "retail_card", "candidate_version": draft, "baseline_version": 1,
        "from": "2000-01-01", "until": "2100-01-01T00:00:00Z"})
    assert response.status_code == 202, response.data
    body = wait_done(as_role("approve"), response.get_json()["id"])
    assert body["status"] == "done", body
    assert body["progress"] == {"done": 2, "total": 2}
    assert body["report"]["snapshots"] == 2
    assert [c["customer_id"] for c in body["report"]["changed"]] == ["C-100001"]
    assert "decision log" in body["report"]["source"]


def test_a_simulation_over_an_empty_window_says_so(as_role, draft):
    response = as_role("approve").post("/v1/simulations", json={
        "ruleset_id": "retail_card", "candidate_version": draft, "from": "2001-01-01", "until": "2001-02-01"})
    assert response.status_code == 202, response.data
    body = wait_done(as_role("approve"), response.get_json()["id"])
    assert body["status"] == "done" and body["report"]["snapshots"] == 0
    assert body["report"]["note"].startswith("No snapshots to simulate on: the decision log, 2001-01-01")
    assert body["report"]["candidate"]["origin"] == "stored, draft"
    assert body["report"]["baseline"]["origin"] == "stored, published, in effect"
    page = as_role("approve").get(f"/v1/simulations/{response.get_json()['id']}/report.html")
    assert page.mimetype == "text/html" and '<p class="note">No snapshots to simulate on' in page.get_data(as_text=True)


def test_a_failure_marks_the_simulation_failed(as_role, draft, monkeypatch):
    from app.api import simulations

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(simulations, "simulate", broken)
    author = as_role("author")
    response = author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                     "snapshots": [DELINQUENT_SNAPSHOT]})
    assert response.status_code == 202
    body = wait_done(author, response.get_json()["id"])
    assert body["status"] == "failed" and body["error"] and "boom" not in body["error"]
    assert body["report"] is None
    assert_envelope(author.get(f"/v1/simulations/{body['id']}/report.html"), 409, "simulation_not_done")


def test_only_author_and_approve_may_simulate_and_audit_may_read(as_role, draft):
    request = {"ruleset_id": "retail_card", "candidate_version": draft, "snapshots": [DELINQUENT_SNAPSHOT]}
    for role in ("decide", "audit"):
        assert_envelope(as_role(role).post("/v1/simulations", json=request), 403, "forbidden")
    accepted = as_role("author").post("/v1/simulations", json=request)
    assert accepted.status_code == 202
    simulation_id = accepted.get_json()["id"]
    assert_envelope(as_role("decide").get(f"/v1/simulations/{simulation_id}"), 403, "forbidden")
    assert_envelope(as_role("decide").get(f"/v1/simulations/{simulation_id}/report.html"), 403, "forbidden")
    # audit may read the log, so it may read every simulation.
    assert wait_done(as_role("audit"), simulation_id)["status"] == "done"


def test_bad_requests_answer_the_envelope(as_role, draft):
    author = as_role("author")
    snaps = [DELINQUENT_SNAPSHOT]
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft}),
                    422, "validation_error")
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                         "from": "2026-01-01"}), 422, "validation_error")
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                         "from": "yesterday", "until": "2026-01-01"}),
                    422, "validation_error")
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                         "snapshots": snaps, "from": "2026-01-01",
                                                         "until": "2026-02-01"}), 422, "validation_error")
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                         "snapshots": [{}] * 5001}), 422, "validation_error")
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "no_such_ruleset", "candidate_version": 1,
                                                         "snapshots": snaps}), 404, "version_not_found")
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": 99,
                                                         "snapshots": snaps}), 404, "version_not_found")
    assert_envelope(author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                         "baseline_version": 99, "snapshots": snaps}),
                    404, "version_not_found")
    assert_envelope(author.get("/v1/simulations/no-such-simulation"), 404, "simulation_not_found")
    assert_envelope(author.get("/v1/simulations/no-such-simulation/report.html"), 404, "simulation_not_found")
    assert_envelope(author.post("/v1/simulations", data="{", content_type="application/json"), 400,
                    "malformed_json")


@pytest.mark.live
def test_a_simulation_under_gunicorn_is_followed_from_any_worker(live_server):
    status, _, _ = live_server.request("POST", "/v1/rulesets/retail_card/versions",
                                       draft_body(*act010_cut(35)).encode())
    assert status == 201
    snaps = grid()
    status, _, data = live_server.request("POST", "/v1/simulations", {
        "ruleset_id": "retail_card", "candidate_version": 2, "snapshots": snaps})
    assert status == 202, data
    simulation_id = json.loads(data)["id"]
    deadline = time.monotonic() + 30
    while True:  # each request a new connection: gunicorn's workers take turns
        status, _, data = live_server.request("GET", f"/v1/simulations/{simulation_id}")
        assert status == 200, data
        body = json.loads(data)
        if body["status"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    assert body["status"] == "done", body
    assert {c["customer_id"] for c in body["report"]["changed"]} == affected(snaps)
    status, headers, page = live_server.request("GET", f"/v1/simulations/{simulation_id}/report.html")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<svg" in page
